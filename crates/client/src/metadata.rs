//! Metadata endpoints: `/topics`, `/consumers`, `/offsets/{timestamp}`.

use std::time::Duration;

use reqwest::Method;

use super::client::{Call, Client, path};
use super::error::Result;
use upkafka_protocol::{
    DEFAULT_METADATA_TIMEOUT_MS, GroupAssignments, OffsetSpec, TopicPartition,
    TopicPartitionOffset, Topics,
};

impl Client {
    /// Lists topics and their partition counts (`GET /topics`).
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let topics = client.topics().await?;
    /// println!("{topics:?}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Transport and auth errors.
    pub async fn topics(&self) -> Result<Topics> {
        self.call(Call::new(Method::GET, "/topics".to_owned()))
            .await
    }

    /// Lists consumer groups, their REST instances and assigned partitions (`GET /consumers`),
    /// the tutorial's Postman call.
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// for group in client.consumers().await? {
    ///     println!("{group:?}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Transport and auth errors.
    pub async fn consumers(&self) -> Result<Vec<GroupAssignments>> {
        self.call(Call::new(Method::GET, "/consumers".to_owned()))
            .await
    }

    /// Offsets of partitions at a time, or their earliest / latest offsets
    /// (`POST /offsets/{timestamp}`). For a time, each offset is the first whose record
    /// timestamp is at or after it (`-1` from upkafka's server when there is none).
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::{OffsetSpec, TopicPartition}};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let ends = client.offsets(OffsetSpec::Latest, &[TopicPartition::new("cities", 0)]).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](super::Error::Api) for an unknown topic or partition; transport errors.
    pub async fn offsets(
        &self,
        at: OffsetSpec,
        partitions: &[TopicPartition],
    ) -> Result<Vec<TopicPartitionOffset>> {
        let mut call =
            Call::new(Method::POST, path(&["offsets", &at.to_string()])).json(partitions)?;
        call.server_wait = Duration::from_millis(DEFAULT_METADATA_TIMEOUT_MS);
        self.call(call).await
    }
}
