//! Management calls (Upstash Developer API shapes, spec §9) that an upkafka server answers
//! under `/v2/kafka` for its own credential: scoped credentials and the one cluster.

use reqwest::Method;

use super::client::{Call, Client, path, segment};
use super::error::Result;
use upkafka_protocol::{
    Cluster, CreateCredentialRequest, Credential, Permission, RateLimits, Token, TokenRequest,
};

impl Client {
    /// Creates a credential that may do `permissions` on `topic` (one topic, or `*`)
    /// (`POST /v2/kafka/credential`). The answer is the only place its password is shown.
    /// Needs the server's own credential.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::Permission};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let cred = client.create_credential("orders-writer", "orders", Permission::Produce).await?;
    /// println!("{} (id {})", cred.username, cred.credential_id);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](super::Error::Api): 400 for a bad name, topic or permission, 403 when
    /// this client's credential is not the server's; transport errors.
    pub async fn create_credential(
        &self,
        name: &str,
        topic: &str,
        permissions: Permission,
    ) -> Result<Credential> {
        self.create_credential_with_limits(name, topic, permissions, RateLimits::default())
            .await
    }

    /// [`Client::create_credential`] with rate limits of its own (the server's defaults
    /// where a field is `None`): over them its requests get 429 with `Retry-After`, which
    /// this client waits out when it retries.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::{Permission, RateLimits}};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let limits = RateLimits { messages_per_second: Some(100), requests_per_day: Some(100_000) };
    /// client.create_credential_with_limits("sensor", "sensor", Permission::Produce, limits).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Client::create_credential`].
    pub async fn create_credential_with_limits(
        &self,
        name: &str,
        topic: &str,
        permissions: Permission,
        limits: RateLimits,
    ) -> Result<Credential> {
        let cluster_id = self
            .clusters()
            .await?
            .into_iter()
            .next()
            .map_or_else(|| "upkafka".to_owned(), |c| c.cluster_id);
        let body = CreateCredentialRequest {
            credential_name: name.to_owned(),
            cluster_id,
            topic: topic.to_owned(),
            permissions,
            limits,
        };
        let mut call = Call::new(Method::POST, "/v2/kafka/credential".to_owned()).json(&body)?;
        // Not idempotent: a retry after a lost answer would create a second credential.
        call.retryable = false;
        self.call(call).await
    }

    /// Mints a short-lived token of this client's credential (`POST /v2/kafka/token`), for a
    /// browser page or an edge function to hold instead of the password: as powerful as the
    /// credential or less (`request` narrows the permission, the topic and the lifetime). It
    /// goes in `Authorization: Bearer TOKEN`, or `?token=TOKEN` on the routes that only read.
    ///
    /// ```no_run
    /// # use upkafka_client::{Client, protocol::{Permission, TokenRequest}};
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let token = client
    ///     .mint_token(&TokenRequest {
    ///         permissions: Some(Permission::Consume),
    ///         topic: Some("sensor".into()),
    ///         expires_in: Some(600),
    ///     })
    ///     .await?;
    /// println!("valid until {}", token.expires_at);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](super::Error::Api): 403 when the request asks for more than the
    /// credential has, 400 for a lifetime over the server's maximum; transport errors.
    pub async fn mint_token(&self, request: &TokenRequest) -> Result<Token> {
        let mut call = Call::new(Method::POST, "/v2/kafka/token".to_owned()).json(request)?;
        // Harmless to repeat, but each answer is a different token: one is enough.
        call.retryable = false;
        self.call(call).await
    }

    /// Lists the scoped credentials, without passwords (`GET /v2/kafka/credentials`).
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// for c in client.credentials().await? {
    ///     println!("{} {} {} {}", c.credential_id, c.credential_name, c.permissions, c.topic);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](super::Error::Api) 403 when this client's credential is not the
    /// server's; transport errors.
    pub async fn credentials(&self) -> Result<Vec<Credential>> {
        self.call(Call::new(Method::GET, "/v2/kafka/credentials".to_owned()))
            .await
    }

    /// Deletes a credential by id (`DELETE /v2/kafka/credential/{id}`); the server refuses
    /// it from then on.
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// client.delete_credential("3f9c0e2a41b7d85e6a0c1f22").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](super::Error::Api): 404 for an unknown id, 400 for a credential of
    /// the server's configuration file; transport errors.
    pub async fn delete_credential(&self, id: &str) -> Result<()> {
        let call = Call::new(
            Method::DELETE,
            path(&["v2", "kafka", "credential", &segment("credential id", id)?]),
        );
        let _ok: String = self.call(call).await?;
        Ok(())
    }

    /// The clusters the server presents (`GET /v2/kafka/clusters`): one for upkafka.
    ///
    /// ```no_run
    /// # use upkafka_client::Client;
    /// # async fn run(client: Client) -> Result<(), upkafka_client::Error> {
    /// let cluster = &client.clusters().await?[0];
    /// println!("{} {}", cluster.cluster_id, cluster.state);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](super::Error::Api) 403 when this client's credential is not the
    /// server's; transport errors.
    pub async fn clusters(&self) -> Result<Vec<Cluster>> {
        self.call(Call::new(Method::GET, "/v2/kafka/clusters".to_owned()))
            .await
    }
}
