//! Produce endpoints: `/produce`, `/produce/{topic}`, `/produce/{topic}/{message}`.
//!
//! One family, one rule (the crate docs' "Producing" section has the table for callers):
//! the topic comes first when the call has one; a single message is a [`ProduceRecord`] by
//! value (built in the call) and answers one [`ProduceMetadata`]; a batch is a slice (the
//! caller keeps its records, e.g. to log or resend a failed batch) and answers one
//! [`ProduceMetadata`] per record, in request order. `_many` means a batch, `_to` a batch to
//! one topic, `_json`/`_in_url` how the one message is given.

use reqwest::Method;
use serde::Serialize;

use super::client::{Call, Client, path, segment};
use super::error::{Error, Result};
use upkafka_protocol::{IDEMPOTENCY_KEY, OneOrMany, ProduceMetadata, ProduceRecord};

impl Client {
    /// Most bytes the value and key of [`Client::produce_in_url`] may take once
    /// percent-encoded: a URL is limited to 64 KiB by the HTTP stack, which also holds the
    /// base URL and topic.
    pub const MAX_URL_FORM_BYTES: usize = 60 * 1024;

    /// Produces one message to `topic` (`POST /produce`, as the official client does) and returns
    /// where it was stored. A `topic` already set on `record` is replaced. The everyday call:
    /// build the record in place with [`ProduceRecord`]'s setters.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::ProduceRecord};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let meta = client
    ///     .produce("cities", ProduceRecord::new("Istanbul").key("city").partition(1))
    ///     .await?;
    /// assert_eq!(meta.partition, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`] when the server refuses the message (unknown topic or partition, too
    /// large); [`Error::Decode`] when the answer is not exactly one metadata entry; plus the
    /// transport errors of every call; a 422 when the server saw the call's `Idempotency-Key`
    /// with another batch. Retries carry the call's key, so a server that keeps keys stores
    /// the message once (see [`RetryPolicy`](super::RetryPolicy)).
    pub async fn produce(&self, topic: &str, record: ProduceRecord) -> Result<ProduceMetadata> {
        // Like kafka-js: one object (not a one-element array) with the topic in it. The answer is
        // documented as an array; a single object is accepted too (spec §12.4).
        let record = record.topic(topic);
        let mut call = Call::new(Method::POST, "/produce".to_owned()).json(&record)?;
        self.for_produce(&mut call);
        let endpoint = call.endpoint();
        let mut out = self
            .call::<OneOrMany<ProduceMetadata>>(call)
            .await?
            .into_vec();
        if out.len() != 1 {
            return Err(Error::Decode {
                endpoint,
                reason: format!("sent 1 message but the answer has {} entries", out.len()),
                snippet: String::new(),
            });
        }
        Ok(out.remove(0))
    }

    /// Produces `value` serialised as JSON text to `topic` (`POST /produce`): shorthand for
    /// `produce(topic, ProduceRecord::json(value)?)` when no key, partition or header is needed.
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// #[derive(serde::Serialize)]
    /// struct Reading { device: u32, value: i64 }
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// client.produce_json("sensor", &Reading { device: 7, value: 42 }).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Json`] when `value` cannot be serialised; otherwise as [`Client::produce`].
    pub async fn produce_json<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        value: &T,
    ) -> Result<ProduceMetadata> {
        self.produce(topic, ProduceRecord::json(value)?).await
    }

    /// Produces a batch of messages, each naming its own topic (`POST /produce` with an array,
    /// the official client's `produceMany`), and returns their metadata in request order. For
    /// a batch to one topic, [`Client::produce_many_to`] needs no topic on the records.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::ProduceRecord};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let metas = client
    ///     .produce_many(&[
    ///         ProduceRecord::new("hello").topic("greetings"),
    ///         ProduceRecord::new("Istanbul").topic("cities").partition(1),
    ///     ])
    ///     .await?;
    /// assert_eq!(metas[1].topic, "cities");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first record without a topic (nothing is sent);
    /// [`Error::Decode`] when the answer does not have one entry per message; otherwise as
    /// [`Client::produce`]. An empty batch answers `[]` without a request.
    pub async fn produce_many(&self, records: &[ProduceRecord]) -> Result<Vec<ProduceMetadata>> {
        if let Some(i) = records.iter().position(|r| r.topic.is_none()) {
            return Err(Error::InvalidInput(format!(
                "message {i} of the batch has no topic"
            )));
        }
        self.send_batch(Call::new(Method::POST, "/produce".to_owned()), records)
            .await
    }

    /// Produces a batch of messages to one topic (`POST /produce/{topic}`) and returns their
    /// metadata in request order. Topics set on the records are ignored: the path names the
    /// topic. The usual batch call; [`Client::produce_many`] is for batches across topics.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::ProduceRecord};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let records: Vec<ProduceRecord> = (0..3).map(|i| ProduceRecord::new(i.to_string())).collect();
    /// let metas = client.produce_many_to("counts", &records).await?;
    /// assert_eq!(metas.len(), records.len());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an unusable topic name (nothing is sent); otherwise as
    /// [`Client::produce_many`].
    pub async fn produce_many_to(
        &self,
        topic: &str,
        records: &[ProduceRecord],
    ) -> Result<Vec<ProduceMetadata>> {
        let path = path(&["produce", &segment("topic", topic)?]);
        let stripped: Vec<ProduceRecord>;
        let records = if records.iter().any(|r| r.topic.is_some()) {
            stripped = records
                .iter()
                .cloned()
                .map(|mut r| {
                    r.topic = None;
                    r
                })
                .collect();
            &stripped
        } else {
            records
        };
        self.send_batch(Call::new(Method::POST, path), records)
            .await
    }

    /// Produces one message given in the URL (`GET /produce/{topic}/{message}?key=`), the form
    /// for callers that can only make GET requests; it answers like [`Client::produce`]. No
    /// partition, headers or timestamp. Errors name the endpoint as `GET /produce/{topic}/…`,
    /// never with the value.
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let meta = client.produce_in_url("greetings", "hello world", Some("k1")).await?;
    /// println!("stored at {}/{}", meta.partition, meta.offset);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the value and key take more than
    /// [`MAX_URL_FORM_BYTES`](Client::MAX_URL_FORM_BYTES) once percent-encoded (use
    /// [`Client::produce`]); otherwise as [`Client::produce`].
    pub async fn produce_in_url(
        &self,
        topic: &str,
        value: &str,
        key: Option<&str>,
    ) -> Result<ProduceMetadata> {
        let topic_segment = segment("topic", topic)?;
        let message_segment = segment("message", value)?;
        let key_bytes = key.map_or(0, |k| {
            url::form_urlencoded::byte_serialize(k.as_bytes())
                .map(str::len)
                .sum()
        });
        let encoded = message_segment.len() + key_bytes;
        if encoded > Self::MAX_URL_FORM_BYTES {
            return Err(Error::InvalidInput(format!(
                "the message is too long for the URL form: {encoded} bytes once percent-encoded, at most {} fit in a URL; use produce instead",
                Self::MAX_URL_FORM_BYTES
            )));
        }
        let label = format!("/produce/{topic_segment}/…");
        let mut call = Call::new(
            Method::GET,
            path(&["produce", &topic_segment, &message_segment]),
        );
        call.label = Some(label);
        if let Some(key) = key {
            call.query.push(("key", key.to_owned()));
        }
        self.for_produce(&mut call);
        self.call(call).await
    }

    /// Makes `call` a produce: retried by the policy's `retry_produce`, and with a fresh
    /// `Idempotency-Key` (kept by every retry of the call) unless `idempotency_keys` is off or
    /// the call has one already (a webhook sender's own).
    pub(crate) fn for_produce(&self, call: &mut Call) {
        let policy = &self.config().retry;
        call.retryable = policy.retry_produce;
        let has_key = call
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(IDEMPOTENCY_KEY));
        if policy.idempotency_keys && !has_key {
            call.headers.push((
                IDEMPOTENCY_KEY.to_owned(),
                super::retry::fresh_idempotency_key(),
            ));
        }
        call.idempotent = has_key || policy.idempotency_keys;
    }

    /// Sends a batch and checks that the answer has one entry per record.
    async fn send_batch(
        &self,
        call: Call,
        records: &[ProduceRecord],
    ) -> Result<Vec<ProduceMetadata>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut call = call.json(records)?;
        self.for_produce(&mut call);
        let endpoint = call.endpoint();
        let out: Vec<ProduceMetadata> = self.call(call).await?;
        if out.len() != records.len() {
            return Err(Error::Decode {
                endpoint,
                reason: format!(
                    "sent {} messages but the answer has {} entries",
                    records.len(),
                    out.len()
                ),
                snippet: String::new(),
            });
        }
        Ok(out)
    }
}
