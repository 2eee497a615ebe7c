//! Consumer-group endpoints: consume, commit, committed, delete-consumer, and the [`Consumer`]
//! handle that remembers a group, an instance and its topics, with [`BatchStream`] to read it
//! as a [`Stream`] of batches.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use reqwest::Method;
use serde::de::IgnoredAny;

use super::client::{Call, Client, path, segment};
use super::error::{Error, Result};
use upkafka_protocol::{
    ConsumeRequest, ConsumerConfig, DEFAULT_METADATA_TIMEOUT_MS, DEFAULT_POLL_TIMEOUT_MS, Message,
    TopicPartition, TopicPartitionOffset,
};

/// What one consume call asks for: a consumer instance (`group`, `instance`), its topics, how
/// long the server may wait for data, and the instance settings sent as `Kafka-*` headers
/// (they take effect only on the call that creates the instance).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumeOptions {
    /// Consumer group id.
    pub group: String,
    /// Consumer instance id within the group.
    pub instance: String,
    /// Topics to consume (at least one).
    pub topics: Vec<String>,
    /// Server-side wait for data; `None` = the server's default (1 s).
    pub timeout: Option<Duration>,
    /// Instance settings (`Kafka-*` headers).
    pub config: ConsumerConfig,
}

impl ConsumeOptions {
    /// Options for `group`/`instance` reading `topics`, with the server's defaults otherwise;
    /// set the other fields with struct update syntax.
    ///
    /// ```
    /// use std::time::Duration;
    /// use upkafka_client::ConsumeOptions;
    /// let opts = ConsumeOptions {
    ///     timeout: Some(Duration::from_secs(5)),
    ///     ..ConsumeOptions::new("monitor", "host-1", ["sensor", "alerts"])
    /// };
    /// assert_eq!(opts.topics, ["sensor", "alerts"]);
    /// ```
    pub fn new<S: Into<String>>(
        group: impl Into<String>,
        instance: impl Into<String>,
        topics: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            group: group.into(),
            instance: instance.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            timeout: None,
            config: ConsumerConfig::default(),
        }
    }
}

fn instance_path(op: &str, group: &str, instance: &str) -> Result<String> {
    Ok(path(&[
        op,
        &segment("consumer group", group)?,
        &segment("consumer instance", instance)?,
    ]))
}

fn owned_headers(config: &ConsumerConfig) -> Vec<(String, String)> {
    config
        .to_headers()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The `POST /consume/{group}/{instance}` call of `opts` (body with `timeout_ms` when given,
/// `Kafka-*` headers).
pub(crate) fn consume_call(opts: &ConsumeOptions, timeout_ms: Option<u64>) -> Result<Call> {
    if opts.topics.is_empty() {
        return Err(Error::InvalidInput(
            "consume needs at least one topic".to_owned(),
        ));
    }
    let body = ConsumeRequest::for_topics(&opts.topics, timeout_ms);
    let mut call = Call::new(
        Method::POST,
        instance_path("consume", &opts.group, &opts.instance)?,
    )
    .json(&body)?;
    call.headers = owned_headers(&opts.config);
    Ok(call)
}

impl Client {
    /// Polls a consumer instance (`POST /consume/{group}/{instance}`), creating it on first use.
    /// Waits up to `opts.timeout` for data; an empty result means nothing arrived in time.
    ///
    /// A lost answer (e.g. a timeout after the server sent messages) moves the instance past
    /// those messages. For at-least-once processing, turn auto-commit off, commit after
    /// processing, and after a failed poll remove the instance and poll again: a new instance
    /// resumes at the committed offsets.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, ConsumeOptions};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let opts = ConsumeOptions::new("monitor", "host-1", ["sensor"]);
    /// for m in client.consume(&opts).await? {
    ///     println!("{}/{} {}", m.partition, m.offset, m.value);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for no topics or an empty group/instance id; [`Error::Api`] for an
    /// unknown topic or `auto_offset_reset: none` without a committed offset; transport errors.
    pub async fn consume(&self, opts: &ConsumeOptions) -> Result<Vec<Message>> {
        let mut call = consume_call(opts, opts.timeout.map(millis))?;
        call.server_wait = opts
            .timeout
            .unwrap_or(Duration::from_millis(DEFAULT_POLL_TIMEOUT_MS));
        self.call_messages(call).await
    }

    /// Polls one topic through the URL form (`GET /consume/{group}/{instance}/{topic}?timeout=`),
    /// for parity with callers that can only make GET requests; otherwise as
    /// [`Client::consume`] for one topic.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use upkafka_client::{Client, protocol::ConsumerConfig};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let timeout = Some(Duration::from_secs(2));
    /// let messages = client
    ///     .consume_topic("monitor", "host-1", "sensor", timeout, &ConsumerConfig::default())
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Client::consume`].
    pub async fn consume_topic(
        &self,
        group: &str,
        instance: &str,
        topic: &str,
        timeout: Option<Duration>,
        config: &ConsumerConfig,
    ) -> Result<Vec<Message>> {
        let mut p = instance_path("consume", group, instance)?;
        p.push('/');
        p.push_str(&segment("topic", topic)?);
        let mut call = Call::new(Method::GET, p);
        if let Some(t) = timeout {
            call.query.push(("timeout", millis(t).to_string()));
        }
        call.headers = owned_headers(config);
        call.server_wait = timeout.unwrap_or(Duration::from_millis(DEFAULT_POLL_TIMEOUT_MS));
        self.call_messages(call).await
    }

    /// Commits explicit offsets for an instance (`POST /commit/{group}/{instance}`). The server
    /// stores them verbatim; by Kafka convention commit the **next** offset to read
    /// (last processed + 1), which is where a new instance of the group resumes;
    /// [`next_offsets`](upkafka_protocol::next_offsets) computes that from processed messages.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, ConsumeOptions, protocol::next_offsets};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let messages = client.consume(&ConsumeOptions::new("monitor", "host-1", ["sensor"])).await?;
    /// // ... process them, then:
    /// if !messages.is_empty() {
    ///     client.commit("monitor", "host-1", &next_offsets(&messages)).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty list (use [`Client::commit_consumed`]);
    /// [`Error::Api`] for an unknown instance; transport errors.
    pub async fn commit(
        &self,
        group: &str,
        instance: &str,
        offsets: &[TopicPartitionOffset],
    ) -> Result<()> {
        if offsets.is_empty() {
            return Err(Error::InvalidInput(
                "no offsets to commit (use commit_consumed to commit what was consumed)".to_owned(),
            ));
        }
        let call =
            Call::new(Method::POST, instance_path("commit", group, instance)?).json(offsets)?;
        self.call::<IgnoredAny>(call).await.map(drop)
    }

    /// Commits the positions of everything this instance has consumed so far
    /// (`POST /commit/{group}/{instance}` without a body): simpler than [`Client::commit`] when
    /// everything polled has been processed.
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// client.commit_consumed("monitor", "host-1").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Client::commit`].
    pub async fn commit_consumed(&self, group: &str, instance: &str) -> Result<()> {
        let call = Call::new(Method::POST, instance_path("commit", group, instance)?);
        self.call::<IgnoredAny>(call).await.map(drop)
    }

    /// Reads the committed offsets of the given partitions (`POST /committed/{group}/{instance}`).
    /// A partition without a committed offset comes back with offset `-1` from upkafka's server;
    /// an empty `partitions` asks upkafka's server for the instance's assigned partitions.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::TopicPartition};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let committed = client
    ///     .committed("monitor", "host-1", &[TopicPartition::new("sensor", 0)])
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`] for an unknown topic or instance; transport errors.
    pub async fn committed(
        &self,
        group: &str,
        instance: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<TopicPartitionOffset>> {
        let mut call = Call::new(Method::POST, instance_path("committed", group, instance)?)
            .json(partitions)?;
        call.server_wait = Duration::from_millis(DEFAULT_METADATA_TIMEOUT_MS);
        self.call(call).await
    }

    /// Stops and removes a consumer instance (`POST /delete-consumer/{group}/{instance}`); its
    /// partitions go to the group's other instances. Call it when an instance is done for good,
    /// or after a failed poll so that a new instance resumes at the committed offsets.
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// client.remove_consumer_instance("monitor", "host-1").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`] (404 from upkafka's server) for an unknown instance; transport errors.
    pub async fn remove_consumer_instance(&self, group: &str, instance: &str) -> Result<()> {
        let call = Call::new(
            Method::POST,
            instance_path("delete-consumer", group, instance)?,
        );
        self.call::<IgnoredAny>(call).await.map(drop)
    }

    /// A handle for one consumer instance that remembers its group, instance, topics and
    /// settings, so that polls and commits need no ids. Nothing is sent until the first poll.
    /// [`Consumer::stream`] reads it as a [`Stream`] of batches.
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let consumer = client.consumer("monitor", "host-1", ["sensor"]);
    /// let messages = consumer.poll().await?;
    /// // ... process, then commit what was processed:
    /// consumer.commit_consumed().await?;
    /// # Ok(()) }
    /// ```
    pub fn consumer<S: Into<String>>(
        &self,
        group: impl Into<String>,
        instance: impl Into<String>,
        topics: impl IntoIterator<Item = S>,
    ) -> Consumer {
        Consumer {
            client: self.clone(),
            options: ConsumeOptions::new(group, instance, topics),
        }
    }
}

/// One consumer instance of a group, bound to a [`Client`]. Created by [`Client::consumer`].
///
/// Two ways to read it: [`Consumer::poll`] for one batch at a time, or [`Consumer::stream`]
/// for a [`Stream`] of batches. Either way committing is the caller's call
/// ([`Consumer::commit`], [`Consumer::commit_consumed`]), after processing. Cloning is cheap
/// and a clone is the same instance on the server.
#[derive(Debug, Clone)]
pub struct Consumer {
    client: Client,
    options: ConsumeOptions,
}

impl Consumer {
    /// Sets the instance settings sent with the first poll (`Kafka-*` headers), e.g. auto-commit
    /// off for at-least-once processing.
    ///
    /// ```
    /// # use upkafka_client::{Client, Config, protocol::ConsumerConfig};
    /// # let client = Client::new(Config::new("http://127.0.0.1:8080", "user", "pw")).unwrap();
    /// let consumer = client
    ///     .consumer("monitor", "host-1", ["sensor"])
    ///     .with_config(ConsumerConfig { auto_commit: Some(false), ..ConsumerConfig::default() });
    /// assert_eq!(consumer.options().config.auto_commit, Some(false));
    /// ```
    pub fn with_config(mut self, config: ConsumerConfig) -> Self {
        self.options.config = config;
        self
    }

    /// Sets how long each poll may wait on the server for data. Default: the server's (1 s).
    /// Longer waits mean fewer empty polls on a quiet topic.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use upkafka_client::{Client, Config};
    /// # let client = Client::new(Config::new("http://127.0.0.1:8080", "user", "pw")).unwrap();
    /// let consumer = client
    ///     .consumer("monitor", "host-1", ["sensor"])
    ///     .with_timeout(Duration::from_secs(10));
    /// assert_eq!(consumer.options().timeout, Some(Duration::from_secs(10)));
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// The client this consumer calls through.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The options every poll sends: group, instance, topics, wait and settings.
    ///
    /// ```
    /// # use upkafka_client::{Client, Config};
    /// # let client = Client::new(Config::new("http://127.0.0.1:8080", "user", "pw")).unwrap();
    /// let consumer = client.consumer("monitor", "host-1", ["sensor"]);
    /// assert_eq!(consumer.options().group, "monitor");
    /// ```
    pub fn options(&self) -> &ConsumeOptions {
        &self.options
    }

    /// Fetches the next messages assigned to this instance; empty when nothing arrived within
    /// the poll's wait.
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let consumer = client.consumer("monitor", "host-1", ["sensor"]);
    /// for m in consumer.poll().await? {
    ///     println!("{} {}", m.offset, m.value);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Client::consume`].
    pub async fn poll(&self) -> Result<Vec<Message>> {
        self.client.consume(&self.options).await
    }

    /// Reads this instance as a [`Stream`] of non-empty batches, one poll after another; see
    /// [`BatchStream`] for what an empty poll, an error and dropping the stream do. The stream
    /// never commits: commit through this consumer (or [`BatchStream::consumer`]) after
    /// processing a batch.
    ///
    /// ```no_run
    /// use futures_util::StreamExt as _; // or `futures::StreamExt`
    /// use upkafka_client::protocol::{ConsumerConfig, next_offsets};
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let consumer = client
    ///     .consumer("monitor", "host-1", ["sensor"])
    ///     .with_config(ConsumerConfig { auto_commit: Some(false), ..ConsumerConfig::default() });
    /// let mut batches = consumer.stream();
    /// while let Some(batch) = batches.next().await {
    ///     let batch = batch?; // or log, `consumer.remove()` and go on
    ///     for m in &batch {
    ///         println!("{} {}", m.offset, m.value);
    ///     }
    ///     consumer.commit(&next_offsets(&batch)).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream(&self) -> BatchStream {
        BatchStream {
            consumer: self.clone(),
            in_flight: None,
        }
    }

    /// Commits explicit offsets (next offset to read, by Kafka convention).
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::next_offsets};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let consumer = client.consumer("monitor", "host-1", ["sensor"]);
    /// let batch = consumer.poll().await?;
    /// if !batch.is_empty() {
    ///     consumer.commit(&next_offsets(&batch)).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Client::commit`].
    pub async fn commit(&self, offsets: &[TopicPartitionOffset]) -> Result<()> {
        self.client
            .commit(&self.options.group, &self.options.instance, offsets)
            .await
    }

    /// Commits everything consumed so far.
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let consumer = client.consumer("monitor", "host-1", ["sensor"]);
    /// let _batch = consumer.poll().await?;
    /// consumer.commit_consumed().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Client::commit_consumed`].
    pub async fn commit_consumed(&self) -> Result<()> {
        self.client
            .commit_consumed(&self.options.group, &self.options.instance)
            .await
    }

    /// Reads committed offsets of the given partitions.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::TopicPartition};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let consumer = client.consumer("monitor", "host-1", ["sensor"]);
    /// let committed = consumer.committed(&[TopicPartition::new("sensor", 0)]).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Client::committed`].
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<TopicPartitionOffset>> {
        self.client
            .committed(&self.options.group, &self.options.instance, partitions)
            .await
    }

    /// Removes this instance from the server; its partitions go to the group's other
    /// instances. The handle stays usable: the next poll creates the instance anew, resuming
    /// at the committed offsets.
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let consumer = client.consumer("monitor", "host-1", ["sensor"]);
    /// consumer.remove().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Client::remove_consumer_instance`].
    pub async fn remove(&self) -> Result<()> {
        self.client
            .remove_consumer_instance(&self.options.group, &self.options.instance)
            .await
    }
}

type PollFuture = Pin<Box<dyn Future<Output = Result<Vec<Message>>> + Send>>;

/// A [`Consumer`] read as a [`Stream`] of batches: `Stream<Item = Result<Vec<Message>>>`.
/// Made by [`Consumer::stream`]; use it with `StreamExt` from `futures` or `futures-util`.
///
/// - **One item per poll that brought messages**, in the order the server sent them. A poll
///   that comes back empty (nothing arrived within the wait, [`Consumer::with_timeout`]) is
///   not an item: the stream polls again at once, paced by the server's wait. So
///   `next().await` returns when there are messages; bound it with a timeout for periodic
///   work on a quiet topic.
/// - **It never ends by itself.** An error is one `Err` item and does not end it either: the
///   next `next()` polls again, with the same instance. Stop with `?` (or `try_next`), or
///   go on; for at-least-once after an error, [`Consumer::remove`] the instance first so that
///   the new one resumes at the committed offsets (a lost answer may have moved the old one
///   past messages; see [`Client::consume`]).
/// - **It never commits.** Commit through [`BatchStream::consumer`] or the [`Consumer`] after
///   processing a batch, and turn the server's auto-commit off
///   ([`ConsumerConfig::auto_commit`](upkafka_protocol::ConsumerConfig::auto_commit)) if a batch must not count as read before that.
/// - Dropping it during a poll abandons that request; as with any lost answer, the instance
///   may already have moved past the messages it held.
///
/// The stream is `Send` and `'static` (it owns a clone of the consumer), so it can be moved
/// into a spawned task.
pub struct BatchStream {
    consumer: Consumer,
    in_flight: Option<PollFuture>,
}

impl BatchStream {
    /// The consumer this stream polls, to commit through while streaming.
    ///
    /// ```no_run
    /// use futures_util::StreamExt as _;
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let mut batches = client.consumer("monitor", "host-1", ["sensor"]).stream();
    /// while let Some(batch) = batches.next().await {
    ///     let _processed = batch?;
    ///     batches.consumer().commit_consumed().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }
}

impl Stream for BatchStream {
    type Item = Result<Vec<Message>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let fut = this.in_flight.get_or_insert_with(|| {
                let consumer = this.consumer.clone();
                Box::pin(async move { consumer.poll().await })
            });
            let outcome = match fut.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(outcome) => outcome,
            };
            this.in_flight = None;
            match outcome {
                // Nothing arrived within the wait: poll again rather than yield an empty batch.
                // The next poll's future is polled right away, which registers the waker.
                Ok(batch) if batch.is_empty() => continue,
                other => return Poll::Ready(Some(other)),
            }
        }
    }
}

impl fmt::Debug for BatchStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchStream")
            .field("consumer", &self.consumer)
            .field("polling", &self.in_flight.is_some())
            .finish()
    }
}
