//! The management shapes of the Upstash Developer API (spec §9) that upkafka serves under
//! `/v2/kafka`: scoped credentials and the one cluster a server presents.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Password;

/// What a scoped credential may do (spec §9 `permissions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Permission {
    /// Produce routes and the webhook.
    Produce,
    /// Fetch, consume, commit, committed, delete-consumer.
    Consume,
    /// Both.
    All,
}

impl Permission {
    /// The wire name: `PRODUCE`, `CONSUME` or `ALL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Produce => "PRODUCE",
            Permission::Consume => "CONSUME",
            Permission::All => "ALL",
        }
    }

    /// True when a holder of `self` may do what `needed` allows.
    pub fn covers(self, needed: Permission) -> bool {
        self == Permission::All || self == needed
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "PRODUCE" => Ok(Permission::Produce),
            "CONSUME" => Ok(Permission::Consume),
            "ALL" => Ok(Permission::All),
            _ => Err(format!(
                "`{s}` is not a permission: use PRODUCE, CONSUME or ALL"
            )),
        }
    }
}

/// The topic scope that stands for every topic.
pub const ANY_TOPIC: &str = "*";

/// A credential's rate limits (an upkafka extension of the Developer API); `None` is
/// unlimited. Over a limit the server answers 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    /// Records it may produce per second (bursts up to one second's worth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_per_second: Option<u32>,
    /// Requests it may make per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_day: Option<u64>,
}

impl RateLimits {
    /// These limits, each falling back to `defaults` where unset.
    #[must_use]
    pub fn or(self, defaults: RateLimits) -> RateLimits {
        RateLimits {
            messages_per_second: self.messages_per_second.or(defaults.messages_per_second),
            requests_per_day: self.requests_per_day.or(defaults.requests_per_day),
        }
    }
}

/// `POST /v2/kafka/credential` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateCredentialRequest {
    /// A name for people; need not be unique.
    pub credential_name: String,
    /// The cluster ([`Cluster::cluster_id`]).
    pub cluster_id: String,
    /// One topic, or `*` for every topic.
    pub topic: String,
    /// What it may do.
    pub permissions: Permission,
    /// Its rate limits (the server's defaults where unset).
    #[serde(default, flatten)]
    pub limits: RateLimits,
}

/// A scoped credential (spec §9 Credential). `password` is only present in the answer that
/// created it; `Debug` never shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Its id, for `DELETE /v2/kafka/credential/{id}`.
    pub credential_id: String,
    /// The name given at creation.
    pub credential_name: String,
    /// One topic, or `*`.
    pub topic: String,
    /// What it may do.
    pub permissions: Permission,
    /// The cluster it belongs to.
    pub cluster_id: String,
    /// The cluster's slug (the cluster id on upkafka).
    #[serde(default)]
    pub cluster_slug: String,
    /// The Basic-auth username.
    pub username: String,
    /// Creation time, epoch seconds.
    #[serde(default)]
    pub creation_time: i64,
    /// The Basic-auth password: only in the answer to its creation.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "password_opt"
    )]
    pub password: Option<Password>,
    /// `active`.
    #[serde(default)]
    pub state: String,
    /// The rate limits it was given (the server's defaults apply where unset).
    #[serde(default, flatten)]
    pub limits: RateLimits,
}

/// `POST /v2/kafka/token` body (an upkafka extension of the Developer API): every field
/// optional; the token gets the caller's permission and topic scope unless narrowed here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// What the token may do: the caller's permission or a narrower one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permission>,
    /// One topic (or `*`) within the caller's scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Lifetime in seconds (the server's default 15 minutes, at most its `--token-max-ttl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

/// A short-lived token: `Authorization: Bearer TOKEN`, or `?token=TOKEN` on the routes that
/// only read (for `EventSource`, which cannot set headers). `Debug` never shows the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// The token itself.
    #[serde(with = "password")]
    pub token: Password,
    /// The credential that minted it (the token dies with it).
    pub credential_name: String,
    /// What it may do.
    pub permissions: Permission,
    /// One topic, or `*`.
    pub topic: String,
    /// When it stops working, epoch seconds.
    pub expires_at: i64,
}

mod password {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Password;

    pub(super) fn serialize<S: Serializer>(p: &Password, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.expose())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Password, D::Error> {
        String::deserialize(d).map(Password::new)
    }
}

mod password_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Password;

    #[allow(clippy::ref_option)] // serde's `with` passes `&Option<T>`
    pub(super) fn serialize<S: Serializer>(p: &Option<Password>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_some(p.expose()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Password>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(Password::new))
    }
}

/// The cluster a server presents itself as (spec §9 Cluster). The server's password is never
/// in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// Its id (`upkafka`).
    pub cluster_id: String,
    /// Its name.
    pub name: String,
    /// `local`.
    pub region: String,
    /// `paid`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always false.
    pub multizone: bool,
    /// Empty: upkafka speaks REST only.
    pub tcp_endpoint: String,
    /// Empty when the server does not know its public address.
    pub rest_endpoint: String,
    /// `active`.
    pub state: String,
    /// The server credential's username.
    pub username: String,
    /// Largest message in bytes.
    pub max_message_size: i64,
    /// Start time of the server, epoch seconds.
    pub creation_time: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_and_credentials_round_trip_without_showing_the_password_in_debug() {
        assert_eq!(
            serde_json::to_string(&Permission::Produce).unwrap(),
            "\"PRODUCE\""
        );
        assert_eq!(
            "consume".parse::<Permission>().unwrap(),
            Permission::Consume
        );
        assert!(Permission::All.covers(Permission::Produce));
        assert!(!Permission::Consume.covers(Permission::Produce));
        let c = Credential {
            credential_id: "id".into(),
            credential_name: "n".into(),
            topic: "*".into(),
            permissions: Permission::All,
            cluster_id: "upkafka".into(),
            cluster_slug: "upkafka".into(),
            username: "u".into(),
            creation_time: 1,
            password: Some(Password::new("hunter2-secret")),
            state: "active".into(),
            limits: RateLimits {
                messages_per_second: Some(50),
                requests_per_day: None,
            },
        };
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"password\":\"hunter2-secret\""), "{json}");
        // Limits sit beside the Developer API's fields; unset ones are left out.
        assert!(json.contains("\"messages_per_second\":50"), "{json}");
        assert!(!json.contains("requests_per_day"), "{json}");
        assert_eq!(serde_json::from_str::<Credential>(&json).unwrap(), c);
        assert!(!format!("{c:?}").contains("hunter2"));
        let listed = Credential {
            password: None,
            ..c
        };
        assert!(!serde_json::to_string(&listed).unwrap().contains("password"));
    }
}
