//! Traced embeddings (`client.embeddings().create(..)`).

use async_openai::Client;
use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::types::embeddings::{CreateEmbeddingRequest, CreateEmbeddingResponse};

use super::{PROVIDER, record_openai_error, to_json};
use crate::{Usage, keys};

/// `client.embeddings().create(request)`, traced as an embeddings span: provider `openai`, the
/// request model, the input texts (as the span input, masked, unless content capture is off),
/// the requested dimensions; from the answer the response model, the input tokens and the
/// dimension count of the returned vectors. Errors as in [`super::chat`].
///
/// ```no_run
/// use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
/// # async fn demo(client: async_openai::Client<async_openai::config::OpenAIConfig>) -> Result<(), async_openai::error::OpenAIError> {
/// let request = CreateEmbeddingRequestArgs::default()
///     .model("text-embedding-3-small")
///     .input(["first text", "second text"])
///     .build()?;
/// let response = spanlens::openai::embeddings(&client, request).await?;
/// # Ok(()) }
/// ```
pub async fn embeddings<C: Config>(
    client: &Client<C>,
    request: CreateEmbeddingRequest,
) -> Result<CreateEmbeddingResponse, OpenAIError> {
    let mut b =
        crate::embeddings(PROVIDER, request.model.clone()).input_value(&to_json(&request.input));
    let requested_dimensions = request.dimensions;
    if let Some(d) = requested_dimensions {
        b = b.attribute(keys::EMBEDDINGS_DIMENSION_COUNT, i64::from(d));
    }
    let span = b.start();
    let result = span.in_scope(client.embeddings().create(request)).await;
    match &result {
        Ok(response) => {
            span.set_response_model(response.model.clone());
            span.set_usage(Usage {
                input_tokens: Some(u64::from(response.usage.prompt_tokens)),
                ..Usage::default()
            });
            if let (None, Some(first)) = (requested_dimensions, response.data.first()) {
                span.set_attribute(
                    keys::EMBEDDINGS_DIMENSION_COUNT,
                    i64::try_from(first.embedding.len()).unwrap_or(i64::MAX),
                );
            }
        }
        Err(e) => record_openai_error(&span, e),
    }
    span.end();
    result
}
