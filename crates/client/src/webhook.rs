//! `/webhook?topic=`: a raw HTTP body becomes one message.

use reqwest::Method;

use super::client::{Call, Client};
use super::error::{Error, Result};
use upkafka_protocol::ProduceMetadata;

/// Headers the HTTP layer owns: given by a caller they would cut the body short
/// (`Content-Length`), break the framing or the connection, or compete with the client's own
/// credentials. None of them would reach the message anyway.
const TRANSPORT_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "expect",
    "host",
    "keep-alive",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl Client {
    /// Posts a raw body to `/webhook?topic=…`, the endpoint for services that can only call a
    /// URL (Stripe, GitHub…). The body becomes the message value and `headers` become message
    /// headers. Answers with where the message was stored (upkafka's server; Upstash never
    /// documented this answer).
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let headers = [("content-type".to_owned(), "application/json".to_owned())];
    /// let meta = client.webhook("payments", r#"{"id":"evt_1"}"#, &headers).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a header that cannot be sent, or one the HTTP layer sets
    /// itself (`Content-Length`, `Host`, `Authorization`, `Transfer-Encoding`, …);
    /// [`Error::Api`] for an unknown
    /// topic; transport errors. Retries are idempotent, as for produce (see
    /// [`RetryPolicy`](super::RetryPolicy)).
    pub async fn webhook(
        &self,
        topic: &str,
        body: impl Into<Vec<u8>>,
        headers: &[(String, String)],
    ) -> Result<ProduceMetadata> {
        let mut call = Call::new(Method::POST, "/webhook".to_owned());
        call.query.push(("topic", topic.to_owned()));
        call.body = Some(bytes::Bytes::from(body.into()));
        for (name, value) in headers {
            if TRANSPORT_HEADERS
                .iter()
                .any(|reserved| name.eq_ignore_ascii_case(reserved))
            {
                return Err(Error::InvalidInput(format!(
                    "`{name}` is set by the HTTP client and cannot be given as a webhook header"
                )));
            }
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
        // A sender's own Idempotency-Key among `headers` is kept; else a fresh one is added.
        self.for_produce(&mut call);
        self.call(call).await
    }
}
