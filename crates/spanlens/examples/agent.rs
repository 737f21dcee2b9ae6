//! An agent answering a question with two LLM calls and a tool call, observed with Spanlens:
//!
//! ```text
//! weather_agent (agent)
//! ├── chat gpt-4o-mini     (LLM: decides to call get_weather)
//! ├── get_weather          (tool)
//! └── chat gpt-4o-mini     (LLM, streamed: writes the answer from the tool result)
//! ```
//!
//! ```sh
//! OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=sk-… SPANLENS_ENDPOINT=http://127.0.0.1:4317 \
//!   cargo run -p spanlens --features async-openai --example agent -- "What should I wear in Lisbon today?"
//! ```
//!
//! The SDK's `async-openai` feature builds the client without TLS: for `https://` (e.g. the
//! default `https://api.openai.com/v1`) add `rustls` or `native-tls` to async-openai's features.
//!
//! `tests/example_agent.rs` runs [`run`] against a fake OpenAI-compatible server and an
//! in-process collector, and checks the stored span tree.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessageArgs,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestToolMessageArgs, ChatCompletionRequestUserMessage,
    ChatCompletionStreamOptions, ChatCompletionTool, ChatCompletionTools,
    CreateChatCompletionRequestArgs, FunctionObjectArgs,
};
use futures::StreamExt;
use serde_json::{Value, json};
use spanlens::{ObservationType, Scope};

pub const MODEL: &str = "gpt-4o-mini";

/// Answers `question` for `user` in `session`: the whole run is one agent span carrying the
/// session and user.
pub async fn run(
    client: &Client<OpenAIConfig>,
    question: &str,
    session: &str,
    user: &str,
) -> anyhow::Result<String> {
    Scope::new()
        .session_id(session)
        .user_id(user)
        .run(spanlens::observe(
            "weather_agent",
            ObservationType::Agent,
            answer(client, question),
        ))
        .await
}

async fn answer(client: &Client<OpenAIConfig>, question: &str) -> anyhow::Result<String> {
    let tools = vec![ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObjectArgs::default()
            .name("get_weather")
            .description("Current weather for a city")
            .parameters(json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}))
            .build()?,
    })];
    let mut messages: Vec<ChatCompletionRequestMessage> = vec![
        ChatCompletionRequestSystemMessage::from("You are a weather assistant. Use tools.").into(),
        ChatCompletionRequestUserMessage::from(question).into(),
    ];

    // 1. The model decides which tool to call.
    let request = CreateChatCompletionRequestArgs::default()
        .model(MODEL)
        .temperature(0.0)
        .max_completion_tokens(200u32)
        .messages(messages.clone())
        .tools(tools.clone())
        .build()?;
    let response = spanlens::openai::chat(client, request).await?;
    let message = &response
        .choices
        .first()
        .ok_or_else(|| anyhow::anyhow!("no choice"))?
        .message;
    let calls = message.tool_calls.clone().unwrap_or_default();
    let Some(ChatCompletionMessageToolCalls::Function(call)) = calls.first().cloned() else {
        return Ok(message.content.clone().unwrap_or_default());
    };

    // 2. Run the tool.
    let args: Value = serde_json::from_str(&call.function.arguments)?;
    let city = args["city"].as_str().unwrap_or("unknown").to_string();
    let weather = get_weather(city).await;

    // 3. The model answers from the tool result (streamed).
    messages.push(
        ChatCompletionRequestAssistantMessageArgs::default()
            .tool_calls(calls)
            .build()?
            .into(),
    );
    messages.push(
        ChatCompletionRequestToolMessageArgs::default()
            .tool_call_id(call.id)
            .content(weather.to_string())
            .build()?
            .into(),
    );
    let request = CreateChatCompletionRequestArgs::default()
        .model(MODEL)
        .temperature(0.0)
        .messages(messages)
        .stream_options(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        })
        .build()?;
    let mut stream = spanlens::openai::chat_stream(client, request).await?;
    let mut answer = String::new();
    while let Some(chunk) = stream.next().await {
        for choice in chunk?.choices {
            answer.push_str(choice.delta.content.as_deref().unwrap_or_default());
        }
    }
    Ok(answer)
}

/// The tool (a real agent would call a weather API here): a tool span with the arguments as
/// input and the result as output.
#[spanlens::observe(as = "tool")]
async fn get_weather(city: String) -> Value {
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    json!({"city": city, "forecast": "sunny", "celsius": 24})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _guard = spanlens::builder()
        .from_env()
        .service_name("weather-agent")
        .init()?;
    let base =
        std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "https://api.openai.com/v1".into());
    let client = Client::with_config(OpenAIConfig::new().with_api_base(base));
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "What should I wear in Lisbon today?".into());
    let answer = run(&client, &question, "session-1", "user-1").await?;
    println!("{answer}");
    spanlens::shutdown().await?;
    Ok(())
}
