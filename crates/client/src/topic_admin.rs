//! Topic management (Upstash Developer API shapes, spec §9) that an upkafka server answers
//! under `/v2/kafka` for its own credential: create, list, describe, update and delete
//! topics, and a topic's stats.

use reqwest::Method;

use super::client::{Call, Client, path, segment};
use super::error::Result;
use upkafka_protocol::{CreateTopicRequest, TopicDetails, TopicStats, UpdateTopicRequest};

impl Client {
    /// Creates a topic (`POST /v2/kafka/topic`). Fields of `request` left `None` take the
    /// server's defaults; sizes are bytes, times milliseconds, `-1` unlimited.
    /// Needs the server's own credential.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::CreateTopicRequest};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let topic = client
    ///     .create_topic(&CreateTopicRequest {
    ///         name: "readings".into(),
    ///         partitions: Some(3),
    ///         retention_time: Some(7 * 24 * 3600 * 1000),
    ///         cleanup_policy: Some("delete".into()),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// println!("{} has {} partitions", topic.topic_name, topic.partitions);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](super::Error::Api): 400 naming a bad field or an existing topic, 403
    /// when this client's credential is not the server's, 429 over the server's topic or
    /// partition cap; transport errors.
    pub async fn create_topic(&self, request: &CreateTopicRequest) -> Result<TopicDetails> {
        let mut call = Call::new(Method::POST, "/v2/kafka/topic".to_owned()).json(request)?;
        // A retry after a lost answer would be refused as "already exists".
        call.retryable = false;
        self.call(call).await
    }

    /// Every topic with its settings (`GET /v2/kafka/topics/{cluster_id}`).
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// for t in client.list_topics().await? {
    ///     println!("{} {} {}", t.topic_name, t.partitions, t.cleanup_policy);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](super::Error::Api) 403 when this client's credential is not the
    /// server's; transport errors.
    pub async fn list_topics(&self) -> Result<Vec<TopicDetails>> {
        let cluster_id = self
            .clusters()
            .await?
            .into_iter()
            .next()
            .map_or_else(|| "upkafka".to_owned(), |c| c.cluster_id);
        let call = Call::new(
            Method::GET,
            path(&[
                "v2",
                "kafka",
                "topics",
                &segment("cluster id", &cluster_id)?,
            ]),
        );
        self.call(call).await
    }

    /// One topic with its settings (`GET /v2/kafka/topic/{id}`; a topic's id is its name).
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let t = client.describe_topic("readings").await?;
    /// println!("retention {} ms, {} bytes", t.retention_time, t.retention_size);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](super::Error::Api) 404 for an unknown topic; transport errors.
    pub async fn describe_topic(&self, id: &str) -> Result<TopicDetails> {
        let call = Call::new(
            Method::GET,
            path(&["v2", "kafka", "topic", &segment("topic", id)?]),
        );
        self.call(call).await
    }

    /// Changes the settings `request` names, keeping the others
    /// (`POST /v2/kafka/update-topic/{id}`); answers the topic as it is now.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::UpdateTopicRequest};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let change = UpdateTopicRequest { retention_size: Some(10 << 30), ..Default::default() };
    /// client.update_topic("readings", &change).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](super::Error::Api): 400 naming a bad field, 404 for an unknown topic;
    /// transport errors.
    pub async fn update_topic(
        &self,
        id: &str,
        request: &UpdateTopicRequest,
    ) -> Result<TopicDetails> {
        let call = Call::new(
            Method::POST,
            path(&["v2", "kafka", "update-topic", &segment("topic", id)?]),
        )
        .json(request)?;
        // Setting the same values again is harmless: retried like any idempotent call.
        self.call(call).await
    }

    /// Deletes a topic with its records and the committed offsets of it
    /// (`DELETE /v2/kafka/topic/{id}`).
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// client.delete_topic("scratch").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](super::Error::Api) 404 for an unknown topic; transport errors.
    pub async fn delete_topic(&self, id: &str) -> Result<()> {
        let mut call = Call::new(
            Method::DELETE,
            path(&["v2", "kafka", "topic", &segment("topic", id)?]),
        );
        // A retry after a lost answer would be 404 for a topic that is gone as asked.
        call.retryable = false;
        let _ok: String = self.call(call).await?;
        Ok(())
    }

    /// A topic's throughput over the last minutes and its disk usage
    /// (`GET /v2/kafka/stats/topic/{id}`).
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let stats = client.topic_stats("readings").await?;
    /// println!("{} messages produced lately", stats.total_monthly_produce);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](super::Error::Api) 404 for an unknown topic; transport errors.
    pub async fn topic_stats(&self, id: &str) -> Result<TopicStats> {
        let call = Call::new(
            Method::GET,
            path(&["v2", "kafka", "stats", "topic", &segment("topic", id)?]),
        );
        self.call(call).await
    }
}
