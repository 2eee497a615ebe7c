//! `/fetch`: read by explicit partition and offset, without a consumer group.

use std::time::Duration;

use futures_util::future::try_join_all;
use reqwest::Method;

use super::client::{Call, Client};
use super::error::{Error, Result};
use upkafka_protocol::{DEFAULT_POLL_TIMEOUT_MS, FetchRequest, Message};

/// How [`Client::fetch_with`] sends a request that names several partitions.
///
/// ```
/// use upkafka_client::FetchOptions;
/// let one_call = FetchOptions { parallel: false };
/// assert!(FetchOptions::default().parallel);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchOptions {
    /// One request per partition, sent concurrently, results concatenated in request order
    /// (the official client's default, because Upstash answered multi-topic fetches with one
    /// topic only). `false` sends the request as one call. Default `true`.
    pub parallel: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self { parallel: true }
    }
}

impl Client {
    /// Reads messages starting at the given offsets (inclusive), split into one request per
    /// partition as the official client does. Waits up to the request's `timeout` (default
    /// 1 s) for data; an empty result means nothing arrived in time.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::FetchRequest};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// for m in client.fetch(&FetchRequest::new("cities", 0, 42)).await? {
    ///     println!("{} {}", m.offset, m.value);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a partly given topic/partition/offset triple;
    /// [`Error::Api`] for an unknown topic or partition; transport errors.
    pub async fn fetch(&self, req: &FetchRequest) -> Result<Vec<Message>> {
        self.fetch_with(req, FetchOptions::default()).await
    }

    /// [`Client::fetch`] with explicit [`FetchOptions`], e.g. to send a multi-partition request
    /// as one call to a server that answers it whole.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, FetchOptions, protocol::FetchRequest};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let req = FetchRequest::new("cities", 0, 42);
    /// let messages = client.fetch_with(&req, FetchOptions { parallel: false }).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Client::fetch`].
    pub async fn fetch_with(&self, req: &FetchRequest, opts: FetchOptions) -> Result<Vec<Message>> {
        let entries = req.entries().map_err(Error::InvalidInput)?;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let wait = Duration::from_millis(req.timeout.unwrap_or(DEFAULT_POLL_TIMEOUT_MS));
        if !opts.parallel {
            let mut call = Call::new(Method::POST, "/fetch".to_owned()).json(req)?;
            call.server_wait = wait;
            return self.call_messages(call).await;
        }
        let calls = entries.into_iter().map(|e| {
            let one = FetchRequest {
                timeout: req.timeout,
                ..FetchRequest::new(e.topic, e.partition, e.offset)
            };
            async move {
                let mut call = Call::new(Method::POST, "/fetch".to_owned()).json(&one)?;
                call.server_wait = wait;
                self.call_messages(call).await
            }
        });
        Ok(try_join_all(calls).await?.into_iter().flatten().collect())
    }
}
