//! `/webhook?topic=`: a raw HTTP body becomes one message.

use reqwest::Method;

use super::client::{Call, Client};
use super::error::{Error, Result};
use crate::protocol::ProduceMetadata;

impl Client {
    /// Posts a raw body to `/webhook?topic=…`, the endpoint for services that can only call a
    /// URL (Stripe, GitHub…). The body becomes the message value and `headers` become message
    /// headers. Answers with where the message was stored (upkafka's server; Upstash never
    /// documented this answer).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a header that cannot be sent; [`Error::Api`] for an unknown
    /// topic; transport errors. Retrying can duplicate, as for produce.
    pub async fn webhook(
        &self,
        topic: &str,
        body: impl Into<Vec<u8>>,
        headers: &[(String, String)],
    ) -> Result<ProduceMetadata> {
        let mut call = Call::new(Method::POST, "/webhook".to_owned());
        call.query.push(("topic", topic.to_owned()));
        call.body = Some(body.into());
        call.retryable = self.config().retry.retry_produce;
        for (name, value) in headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(Error::InvalidInput(format!(
                    "`{name}` is not a valid HTTP header name"
                )));
            }
            if reqwest::header::HeaderValue::from_str(value).is_err() {
                return Err(Error::InvalidInput(format!(
                    "the value of header `{name}` cannot be sent (control characters?)"
                )));
            }
        }
        call.headers = headers.to_vec();
        self.call(call).await
    }
}
