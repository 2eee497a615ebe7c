//! Consumer-group endpoints: consume, commit, committed, delete-consumer, and the [`Consumer`]
//! handle that remembers a group, an instance and its topics.

use std::time::Duration;

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
    /// Options for `group`/`instance` reading `topics`, with the server's defaults otherwise.
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

impl Client {
    /// Polls a consumer instance (`POST /consume/{group}/{instance}`), creating it on first use.
    /// Waits up to `opts.timeout` for data; an empty result means nothing arrived in time.
    ///
    /// A lost answer (e.g. a timeout after the server sent messages) moves the instance past
    /// those messages. For at-least-once processing, turn auto-commit off, commit after
    /// processing, and after a failed poll remove the instance and poll again: a new instance
    /// resumes at the committed offsets.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for no topics or an empty group/instance id; [`Error::Api`] for an
    /// unknown topic or `auto_offset_reset: none` without a committed offset; transport errors.
    pub async fn consume(&self, opts: &ConsumeOptions) -> Result<Vec<Message>> {
        if opts.topics.is_empty() {
            return Err(Error::InvalidInput(
                "consume needs at least one topic".to_owned(),
            ));
        }
        let body = ConsumeRequest::for_topics(&opts.topics, opts.timeout.map(millis));
        let mut call = Call::new(
            Method::POST,
            instance_path("consume", &opts.group, &opts.instance)?,
        )
        .json(&body)?;
        call.headers = owned_headers(&opts.config);
        call.server_wait = opts
            .timeout
            .unwrap_or(Duration::from_millis(DEFAULT_POLL_TIMEOUT_MS));
        self.call(call).await
    }

    /// Polls one topic through the URL form (`GET /consume/{group}/{instance}/{topic}?timeout=`).
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
        self.call(call).await
    }

    /// Commits explicit offsets for an instance (`POST /commit/{group}/{instance}`). The server
    /// stores them verbatim; by Kafka convention commit the **next** offset to read
    /// (last processed + 1), which is where a new instance of the group resumes.
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
    /// (`POST /commit/{group}/{instance}` without a body).
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
    /// partitions go to the group's other instances.
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
    /// settings.
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
#[derive(Debug, Clone)]
pub struct Consumer {
    client: Client,
    options: ConsumeOptions,
}

impl Consumer {
    /// Sets the instance settings sent with the first poll (`Kafka-*` headers).
    pub fn with_config(mut self, config: ConsumerConfig) -> Self {
        self.options.config = config;
        self
    }

    /// Sets how long each poll may wait on the server for data. Default: the server's (1 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// The options every poll sends.
    pub fn options(&self) -> &ConsumeOptions {
        &self.options
    }

    /// Fetches the next messages assigned to this instance.
    ///
    /// # Errors
    /// As [`Client::consume`].
    pub async fn poll(&self) -> Result<Vec<Message>> {
        self.client.consume(&self.options).await
    }

    /// Commits explicit offsets (next offset to read, by Kafka convention).
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
    /// # Errors
    /// As [`Client::commit_consumed`].
    pub async fn commit_consumed(&self) -> Result<()> {
        self.client
            .commit_consumed(&self.options.group, &self.options.instance)
            .await
    }

    /// Reads committed offsets of the given partitions.
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

    /// Removes this instance from the server.
    ///
    /// # Errors
    /// As [`Client::remove_consumer_instance`].
    pub async fn remove(&self) -> Result<()> {
        self.client
            .remove_consumer_instance(&self.options.group, &self.options.instance)
            .await
    }
}
