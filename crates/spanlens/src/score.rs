//! Scores (evaluations, user feedback, ratings) attached to a trace, span or session, sent as
//! JSON to the collector's `POST /v1/scores`.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::span::SpanHandle;

/// The value of a [`Score`].
///
/// ```
/// use spanlens::ScoreValue;
/// assert_eq!(ScoreValue::Numeric(0.5).data_type(), "NUMERIC");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum ScoreValue {
    /// A number (`data_type` `NUMERIC`).
    Numeric(f64),
    /// True/false (`BOOLEAN`, sent as `value` 1 or 0).
    Boolean(bool),
    /// A label (`CATEGORICAL`, sent as `string_value`).
    Categorical(String),
}

impl ScoreValue {
    /// `NUMERIC`, `BOOLEAN` or `CATEGORICAL`.
    ///
    /// ```
    /// assert_eq!(spanlens::ScoreValue::Boolean(true).data_type(), "BOOLEAN");
    /// ```
    pub fn data_type(&self) -> &'static str {
        match self {
            ScoreValue::Numeric(_) => "NUMERIC",
            ScoreValue::Boolean(_) => "BOOLEAN",
            ScoreValue::Categorical(_) => "CATEGORICAL",
        }
    }
}

/// A quality score for a trace, a span in it, or a session.
///
/// Sending a score with the same `id` again replaces the earlier one (the id defaults to a
/// random one; set it to make re-sends idempotent, e.g. `"<trace>-<name>"`).
///
/// JSON sent (absent fields omitted):
///
/// ```json
/// {"id":"…","name":"helpfulness","data_type":"NUMERIC","value":0.9,"string_value":"…",
///  "trace_id":"<32 hex>","span_id":"<16 hex>","session_id":"…","comment":"…","source":"API",
///  "timestamp_unix_nano":1764000000000000000,"metadata":{"k":"v"}}
/// ```
///
/// ```
/// use spanlens::Score;
/// let span = spanlens::chat("openai", "gpt-4o").start();
/// let score = Score::numeric("helpfulness", 0.9)
///     .for_span(&span)                    // or .for_current_span(), .for_current_trace(), .trace_id(..), .session_id(..)
///     .comment("concise and correct")
///     .source("EVAL");
/// let json = score.to_json();
/// assert_eq!(json["data_type"], "NUMERIC");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    id: String,
    name: String,
    value: ScoreValue,
    trace_id: Option<String>,
    span_id: Option<String>,
    session_id: Option<String>,
    comment: Option<String>,
    source: String,
    timestamp_unix_nano: u64,
    metadata: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Wire<'a> {
    id: &'a str,
    name: &'a str,
    data_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    string_value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
    source: &'a str,
    timestamp_unix_nano: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: &'a BTreeMap<String, String>,
}

impl Score {
    /// A score with any value.
    ///
    /// ```
    /// let s = spanlens::Score::new("tone", spanlens::ScoreValue::Categorical("friendly".into()));
    /// ```
    pub fn new(name: impl Into<String>, value: ScoreValue) -> Score {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Score {
            id: random_id(),
            name: name.into(),
            value,
            trace_id: None,
            span_id: None,
            session_id: None,
            comment: None,
            source: "API".into(),
            timestamp_unix_nano: u64::try_from(now.as_nanos()).unwrap_or(u64::MAX),
            metadata: BTreeMap::new(),
        }
    }

    /// A numeric score.
    ///
    /// ```
    /// let s = spanlens::Score::numeric("accuracy", 0.75);
    /// ```
    pub fn numeric(name: impl Into<String>, value: f64) -> Score {
        Score::new(name, ScoreValue::Numeric(value))
    }

    /// A boolean score.
    ///
    /// ```
    /// let s = spanlens::Score::boolean("thumbs_up", true);
    /// ```
    pub fn boolean(name: impl Into<String>, value: bool) -> Score {
        Score::new(name, ScoreValue::Boolean(value))
    }

    /// A categorical score.
    ///
    /// ```
    /// let s = spanlens::Score::categorical("tone", "friendly");
    /// ```
    pub fn categorical(name: impl Into<String>, value: impl Into<String>) -> Score {
        Score::new(name, ScoreValue::Categorical(value.into()))
    }

    /// Targets `span` (its trace and span id). No-op without a valid span.
    ///
    /// ```
    /// let obs = spanlens::observation("step", spanlens::ObservationType::Span).start();
    /// let s = spanlens::Score::boolean("ok", true).for_span(&obs);
    /// ```
    pub fn for_span(mut self, span: &SpanHandle) -> Score {
        if let (Some(trace_id), Some(span_id)) = (span.trace_id(), span.span_id()) {
            self.trace_id = Some(trace_id);
            self.span_id = Some(span_id);
        }
        self
    }

    /// Targets the current span ([`crate::current`]).
    ///
    /// ```
    /// let s = spanlens::Score::numeric("latency_ok", 1.0).for_current_span();
    /// ```
    pub fn for_current_span(self) -> Score {
        self.for_span(&crate::current())
    }

    /// Targets the current trace as a whole (its trace id only).
    ///
    /// ```
    /// let s = spanlens::Score::numeric("resolved", 1.0).for_current_trace();
    /// ```
    pub fn for_current_trace(mut self) -> Score {
        if let Some(trace_id) = crate::current().trace_id() {
            self.trace_id = Some(trace_id);
        }
        self
    }

    /// Targets a trace by id (32 lowercase hex digits).
    ///
    /// ```
    /// let s = spanlens::Score::numeric("q", 1.0).trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
    /// ```
    pub fn trace_id(mut self, trace_id: impl Into<String>) -> Score {
        self.trace_id = Some(trace_id.into());
        self
    }

    /// Targets a span by id (16 lowercase hex digits); set the trace id too.
    ///
    /// ```
    /// let s = spanlens::Score::numeric("q", 1.0).trace_id("4bf92f3577b34da6a3ce929d0e0e4736").span_id("00f067aa0ba902b7");
    /// ```
    pub fn span_id(mut self, span_id: impl Into<String>) -> Score {
        self.span_id = Some(span_id.into());
        self
    }

    /// Targets (or also tags) a session.
    ///
    /// ```
    /// let s = spanlens::Score::numeric("csat", 5.0).session_id("session-42");
    /// ```
    pub fn session_id(mut self, session_id: impl Into<String>) -> Score {
        self.session_id = Some(session_id.into());
        self
    }

    /// Free-text comment.
    ///
    /// ```
    /// let s = spanlens::Score::boolean("ok", false).comment("hallucinated a date");
    /// ```
    pub fn comment(mut self, comment: impl Into<String>) -> Score {
        self.comment = Some(comment.into());
        self
    }

    /// Who scored: `API` (default), `EVAL`, `ANNOTATION`, `USER`, …
    ///
    /// ```
    /// let s = spanlens::Score::boolean("ok", true).source("EVAL");
    /// ```
    pub fn source(mut self, source: impl Into<String>) -> Score {
        self.source = source.into();
        self
    }

    /// Score id; re-sending the same id replaces the earlier score.
    ///
    /// ```
    /// let s = spanlens::Score::boolean("ok", true).id("trace-1-ok");
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Score {
        self.id = id.into();
        self
    }

    /// A metadata entry.
    ///
    /// ```
    /// let s = spanlens::Score::numeric("q", 1.0).metadata("judge_model", "gpt-4o");
    /// ```
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Score {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The JSON body sent to `POST /v1/scores`.
    ///
    /// ```
    /// let j = spanlens::Score::categorical("tone", "warm").id("s1").to_json();
    /// assert_eq!((j["id"].as_str(), j["string_value"].as_str()), (Some("s1"), Some("warm")));
    /// assert!(j.get("value").is_none());
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        let (value, string_value) = match &self.value {
            ScoreValue::Numeric(v) => (Some(*v), None),
            ScoreValue::Boolean(b) => (Some(if *b { 1.0 } else { 0.0 }), None),
            ScoreValue::Categorical(s) => (None, Some(s.as_str())),
        };
        serde_json::to_value(Wire {
            id: &self.id,
            name: &self.name,
            data_type: self.value.data_type(),
            value,
            string_value,
            trace_id: self.trace_id.as_deref(),
            span_id: self.span_id.as_deref(),
            session_id: self.session_id.as_deref(),
            comment: self.comment.as_deref(),
            source: &self.source,
            timestamp_unix_nano: self.timestamp_unix_nano,
            metadata: &self.metadata,
        })
        .unwrap_or_default()
    }
}

/// 32 hex digits from the OS-seeded std hasher (unique enough for score ids; no rand dependency).
fn random_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let mut a = RandomState::new().build_hasher();
    a.write_u64(n);
    a.write_u64(nanos);
    let mut b = RandomState::new().build_hasher();
    b.write_u64(nanos);
    b.write_u64(n.wrapping_add(0x9e37_79b9_7f4a_7c15));
    format!("{:016x}{:016x}", a.finish(), b.finish())
}

/// Sends scores over HTTP/1.1 (HTTPS with the `tls` feature) on the SDK's runtime.
pub(crate) struct ScoreClient {
    url: Option<String>,
    headers: Vec<(String, String)>,
    client: hyper_util::client::legacy::Client<
        crate::tls::Connector,
        http_body_util::Full<bytes::Bytes>,
    >,
}

impl ScoreClient {
    pub(crate) fn new(
        connector: crate::tls::Connector,
        url: Option<String>,
        headers: Vec<(String, String)>,
    ) -> ScoreClient {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        ScoreClient {
            url,
            headers,
            client,
        }
    }

    fn spawn(
        &self,
        rt: &tokio::runtime::Handle,
        score: Score,
    ) -> Result<tokio::task::JoinHandle<Result<(), crate::Error>>, crate::Error> {
        let url = self.url.as_deref().ok_or_else(|| {
            crate::Error::Score(
                "no HTTP endpoint for scores: set SpanlensBuilder::http_endpoint".into(),
            )
        })?;
        let body =
            serde_json::to_vec(&score.to_json()).map_err(|e| crate::Error::Score(e.to_string()))?;
        let mut req =
            http::Request::post(url).header(http::header::CONTENT_TYPE, "application/json");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .map_err(|e| crate::Error::Score(format!("building request to {url}: {e}")))?;
        let client = self.client.clone();
        let url = url.to_string();
        Ok(rt.spawn(async move {
            use http_body_util::BodyExt;
            let send =
                tokio::time::timeout(std::time::Duration::from_secs(10), client.request(req));
            let resp = match send.await {
                Err(_) => return Err(crate::Error::Score(format!("POST {url}: timed out"))),
                Ok(Err(e)) => {
                    return Err(crate::Error::Score(format!("POST {url}: {}", chain(&e))));
                }
                Ok(Ok(resp)) => resp,
            };
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            if status.is_success() {
                Ok(())
            } else {
                Err(crate::Error::Score(format!(
                    "POST {url}: {status}: {}",
                    String::from_utf8_lossy(&body)
                )))
            }
        }))
    }

    pub(crate) async fn send(
        &self,
        rt: &tokio::runtime::Handle,
        score: Score,
    ) -> Result<(), crate::Error> {
        self.spawn(rt, score)?
            .await
            .map_err(|e| crate::Error::Score(e.to_string()))?
    }

    pub(crate) fn send_blocking(
        &self,
        rt: &tokio::runtime::Handle,
        score: Score,
    ) -> Result<(), crate::Error> {
        let handle = self.spawn(rt, score)?;
        rt.block_on(handle)
            .map_err(|e| crate::Error::Score(e.to_string()))?
    }
}

/// An error with its sources (`client error (Connect): invalid peer certificate: UnknownIssuer`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
