//! Chat messages in the OpenTelemetry GenAI "parts" format (`gen_ai.input.messages`,
//! `gen_ai.output.messages`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::capture::{Mask, mask_value};

/// One chat message: a role and its parts, serialized as the GenAI semantic conventions define
/// (`{"role":"user","parts":[{"type":"text","content":"Hi"}]}`).
///
/// ```
/// use spanlens::{Message, Part};
/// let m = Message::user("What is OTLP?");
/// assert_eq!(
///     serde_json::to_string(&m).unwrap(),
///     r#"{"role":"user","parts":[{"type":"text","content":"What is OTLP?"}]}"#
/// );
/// let call = Message::new("assistant", vec![Part::tool_call("call_1", "get_weather", serde_json::json!({"city": "Paris"}))]);
/// assert!(serde_json::to_string(&call).unwrap().contains(r#""type":"tool_call""#));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant`, `tool`, …
    pub role: String,
    /// The content, in order.
    pub parts: Vec<Part>,
    /// Optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// On output messages: why the model stopped (`stop`, `length`, `tool_call`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

/// One part of a [`Message`].
///
/// ```
/// use spanlens::Part;
/// let p = Part::text("hello");
/// assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"type":"text","content":"hello"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Plain text.
    Text {
        /// The text.
        content: String,
    },
    /// A tool call requested by the model.
    ToolCall {
        /// Call id, when the provider gives one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Tool name.
        name: String,
        /// Arguments (usually a JSON object).
        #[serde(default, skip_serializing_if = "Value::is_null")]
        arguments: Value,
    },
    /// The result of a tool call sent back to the model.
    ToolCallResponse {
        /// Call id the response answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The result.
        response: Value,
    },
    /// Reasoning ("thinking") text returned by the model.
    Reasoning {
        /// The reasoning text.
        content: String,
    },
    /// A reference to external content (image, audio, file) by URI.
    Uri {
        /// `image`, `audio`, `video`, …
        modality: String,
        /// The URI.
        uri: String,
        /// MIME type, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
    },
}

impl Part {
    /// A text part.
    ///
    /// ```
    /// assert_eq!(spanlens::Part::text("x"), spanlens::Part::Text { content: "x".into() });
    /// ```
    pub fn text(content: impl Into<String>) -> Part {
        Part::Text {
            content: content.into(),
        }
    }

    /// A tool-call part.
    ///
    /// ```
    /// let p = spanlens::Part::tool_call("call_1", "search", serde_json::json!({"q": "otlp"}));
    /// assert!(matches!(p, spanlens::Part::ToolCall { .. }));
    /// ```
    pub fn tool_call(id: impl Into<String>, name: impl Into<String>, arguments: Value) -> Part {
        Part::ToolCall {
            id: Some(id.into()),
            name: name.into(),
            arguments,
        }
    }

    /// A tool-call-response part.
    ///
    /// ```
    /// let p = spanlens::Part::tool_response("call_1", serde_json::json!("sunny"));
    /// assert!(matches!(p, spanlens::Part::ToolCallResponse { .. }));
    /// ```
    pub fn tool_response(id: impl Into<String>, response: Value) -> Part {
        Part::ToolCallResponse {
            id: Some(id.into()),
            response,
        }
    }

    fn masked(&self, mask: &Mask) -> Part {
        match self {
            Part::Text { content } => Part::Text {
                content: mask(content),
            },
            Part::Reasoning { content } => Part::Reasoning {
                content: mask(content),
            },
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                let mut arguments = arguments.clone();
                mask_value(&mut arguments, mask);
                Part::ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments,
                }
            }
            Part::ToolCallResponse { id, response } => {
                let mut response = response.clone();
                mask_value(&mut response, mask);
                Part::ToolCallResponse {
                    id: id.clone(),
                    response,
                }
            }
            Part::Uri { .. } => self.clone(),
        }
    }
}

impl Message {
    /// A message with any role and parts.
    ///
    /// ```
    /// let m = spanlens::Message::new("tool", vec![spanlens::Part::tool_response("c1", serde_json::json!(21))]);
    /// assert_eq!(m.role, "tool");
    /// ```
    pub fn new(role: impl Into<String>, parts: Vec<Part>) -> Message {
        Message {
            role: role.into(),
            parts,
            name: None,
            finish_reason: None,
        }
    }

    /// A single-text message with `role`.
    ///
    /// ```
    /// assert_eq!(spanlens::Message::text("user", "hi"), spanlens::Message::user("hi"));
    /// ```
    pub fn text(role: impl Into<String>, content: impl Into<String>) -> Message {
        Message::new(role, vec![Part::text(content)])
    }

    /// A system message.
    ///
    /// ```
    /// assert_eq!(spanlens::Message::system("be brief").role, "system");
    /// ```
    pub fn system(content: impl Into<String>) -> Message {
        Message::text("system", content)
    }

    /// A user message.
    ///
    /// ```
    /// assert_eq!(spanlens::Message::user("hi").role, "user");
    /// ```
    pub fn user(content: impl Into<String>) -> Message {
        Message::text("user", content)
    }

    /// An assistant message.
    ///
    /// ```
    /// assert_eq!(spanlens::Message::assistant("hello").role, "assistant");
    /// ```
    pub fn assistant(content: impl Into<String>) -> Message {
        Message::text("assistant", content)
    }

    /// Sets the finish reason (output messages).
    ///
    /// ```
    /// let m = spanlens::Message::assistant("done").with_finish_reason("stop");
    /// assert_eq!(m.finish_reason.as_deref(), Some("stop"));
    /// ```
    pub fn with_finish_reason(mut self, reason: impl Into<String>) -> Message {
        self.finish_reason = Some(reason.into());
        self
    }

    fn masked(&self, mask: &Mask) -> Message {
        Message {
            role: self.role.clone(),
            parts: self.parts.iter().map(|p| p.masked(mask)).collect(),
            name: self.name.clone(),
            finish_reason: self.finish_reason.clone(),
        }
    }
}

/// JSON text of `messages` with the mask applied to every content string.
pub(crate) fn render_messages(messages: &[Message], mask: Option<&Mask>) -> String {
    match mask {
        None => serde_json::to_string(messages).unwrap_or_default(),
        Some(mask) => {
            let masked: Vec<Message> = messages.iter().map(|m| m.masked(mask)).collect();
            serde_json::to_string(&masked).unwrap_or_default()
        }
    }
}
