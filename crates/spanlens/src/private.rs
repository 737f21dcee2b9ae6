//! Support for the `#[observe]` attribute's generated code. Not a public API.
#![allow(missing_docs)]

use std::fmt::{Debug, Display};

use serde::Serialize;
pub use serde_json::{Map, Value};

use crate::observe::{Observation, ObservationType, observation};

pub use crate::capture::captures_content as capturing;

pub fn start(name: &'static str, ty: ObservationType, input: Option<Value>) -> Observation {
    let builder = observation(name, ty);
    match input {
        Some(input) => builder.input(&input),
        None => builder,
    }
    .start()
}

/// The function's return value as the output, unless the body set one.
pub fn set_output(span: &crate::SpanHandle, value: &Value) {
    span.set_default_output(value);
}

/// Records `err` on the span: `error.type` = its type name, the message given.
pub fn record_error<E: ?Sized>(span: &crate::SpanHandle, _err: &E, message: String) {
    span.record_error_as(crate::llm::short_type_name::<E>(), message);
}

/// Autoref specialization: `(&&&Capture(&x)).__spanlens_capture()` serializes `x` with serde when
/// it is `Serialize`, else prints it with `Debug`, else names its type.
pub struct Capture<'a, T: ?Sized>(pub &'a T);

pub trait CaptureSerialize {
    fn __spanlens_capture(&self) -> Value;
}
impl<T: Serialize + ?Sized> CaptureSerialize for &&Capture<'_, T> {
    fn __spanlens_capture(&self) -> Value {
        serde_json::to_value(self.0).unwrap_or(Value::Null)
    }
}

pub trait CaptureDebug {
    fn __spanlens_capture(&self) -> Value;
}
impl<T: Debug + ?Sized> CaptureDebug for &Capture<'_, T> {
    fn __spanlens_capture(&self) -> Value {
        Value::String(format!("{:?}", self.0))
    }
}

pub trait CaptureOpaque {
    fn __spanlens_capture(&self) -> Value;
}
impl<T: ?Sized> CaptureOpaque for Capture<'_, T> {
    fn __spanlens_capture(&self) -> Value {
        Value::String(format!("<{}>", std::any::type_name::<T>()))
    }
}

/// Error message: `Display`, else `Debug`, else the type name.
pub trait ErrorDisplay {
    fn __spanlens_error_message(&self) -> String;
}
impl<T: Display + ?Sized> ErrorDisplay for &&Capture<'_, T> {
    fn __spanlens_error_message(&self) -> String {
        self.0.to_string()
    }
}

pub trait ErrorDebug {
    fn __spanlens_error_message(&self) -> String;
}
impl<T: Debug + ?Sized> ErrorDebug for &Capture<'_, T> {
    fn __spanlens_error_message(&self) -> String {
        format!("{:?}", self.0)
    }
}

pub trait ErrorOpaque {
    fn __spanlens_error_message(&self) -> String;
}
impl<T: ?Sized> ErrorOpaque for Capture<'_, T> {
    fn __spanlens_error_message(&self) -> String {
        std::any::type_name::<T>().to_string()
    }
}
