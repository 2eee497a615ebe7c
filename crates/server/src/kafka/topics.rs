//! Topic administration on the gateway, through Kafka's admin protocol (issue 15):
//! CreateTopics with configs, DescribeConfigs, AlterConfigs and DeleteTopics.
//!
//! The management API's settings map onto Kafka's topic configs one to one:
//!
//! | management API | Kafka topic config |
//! |---|---|
//! | `retention_time` | `retention.ms` |
//! | `retention_size` | `retention.bytes` |
//! | `max_message_size` | `max.message.bytes` |
//! | `cleanup_policy` | `cleanup.policy` |
//! | `segment_bytes`, `segment_ms`, `delete_retention_ms` | `segment.bytes`, `segment.ms`, `delete.retention.ms` |
//!
//! Only the settings a request names are sent, so the cluster's own defaults apply to the
//! rest. Kafka's AlterConfigs replaces a topic's whole dynamic config, so an update first
//! reads the topic's dynamic configs and sends them back with the change.
//!
//! **Never a silent no-op:** after a create or an update the gateway reads the configs back
//! and compares; a cluster that accepted a setting but does not hold it (or cannot describe
//! configs at all) is answered 501 naming the setting, so a user never believes retention is
//! on when it is not. What the cluster must support: CreateTopics with configs,
//! DescribeConfigs, AlterConfigs and DeleteTopics (every Apache Kafka since 0.11).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminOptions, AlterConfig, ConfigSource, ResourceSpecifier};
use rdkafka::error::RDKafkaErrorCode;

use super::backend::Inner;
use super::convert::backend_error;
use crate::backend::{BackendResult, TopicInfo};
use crate::error::BackendError;
use crate::log::settings::{CleanupPolicy, SettingsPatch, TopicSettings};

/// Kafka's name of each setting the management API knows.
const RETENTION_MS: &str = "retention.ms";
const RETENTION_BYTES: &str = "retention.bytes";
const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
const CLEANUP_POLICY: &str = "cleanup.policy";
const SEGMENT_BYTES: &str = "segment.bytes";
const SEGMENT_MS: &str = "segment.ms";
const DELETE_RETENTION_MS: &str = "delete.retention.ms";

fn unlimited(v: Option<u64>) -> String {
    v.map_or_else(|| "-1".to_owned(), |n| n.to_string())
}

/// The Kafka configs a patch names: `Some(value)` to set, `None` to go back to the
/// cluster's default (only `max.message.bytes` has an "unset" on the API's side).
pub(super) fn patch_configs(patch: &SettingsPatch) -> BTreeMap<&'static str, Option<String>> {
    let mut out = BTreeMap::new();
    if let Some(v) = patch.retention_ms {
        out.insert(RETENTION_MS, Some(unlimited(v)));
    }
    if let Some(v) = patch.retention_bytes {
        out.insert(RETENTION_BYTES, Some(unlimited(v)));
    }
    if let Some(v) = patch.max_message_bytes {
        out.insert(MAX_MESSAGE_BYTES, v.map(|n| n.to_string()));
    }
    if let Some(v) = patch.cleanup_policy {
        out.insert(CLEANUP_POLICY, Some(v.as_str().to_owned()));
    }
    if let Some(v) = patch.segment_bytes {
        out.insert(SEGMENT_BYTES, Some(v.to_string()));
    }
    if let Some(v) = patch.segment_ms {
        out.insert(SEGMENT_MS, Some(v.to_string()));
    }
    if let Some(v) = patch.delete_retention_ms {
        out.insert(DELETE_RETENTION_MS, Some(v.to_string()));
    }
    out
}

/// Reads a Kafka "-1 or a count" value.
fn parse_limit(v: &str) -> Option<Option<u64>> {
    let n: i64 = v.trim().parse().ok()?;
    Some(u64::try_from(n).ok())
}

/// The settings a topic's described configs amount to (a missing or unreadable config keeps
/// the value of [`TopicSettings::default`], Kafka's own default).
pub(super) fn settings_of(configs: &BTreeMap<String, String>) -> TopicSettings {
    let d = TopicSettings::default();
    let get = |k: &str| configs.get(k).map(String::as_str);
    let count = |k: &str, or: u64| {
        get(k)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(or)
    };
    TopicSettings {
        retention_ms: get(RETENTION_MS)
            .and_then(parse_limit)
            .unwrap_or(d.retention_ms),
        retention_bytes: get(RETENTION_BYTES)
            .and_then(parse_limit)
            .unwrap_or(d.retention_bytes),
        max_message_bytes: get(MAX_MESSAGE_BYTES)
            .and_then(parse_limit)
            .unwrap_or(d.max_message_bytes),
        // Kafka also allows `compact,delete`: compaction is what a reader must know of.
        cleanup_policy: match get(CLEANUP_POLICY) {
            Some(p) if p.contains("compact") => CleanupPolicy::Compact,
            _ => CleanupPolicy::Delete,
        },
        segment_bytes: count(SEGMENT_BYTES, d.segment_bytes),
        segment_ms: count(SEGMENT_MS, d.segment_ms),
        delete_retention_ms: count(DELETE_RETENTION_MS, d.delete_retention_ms),
    }
}

/// The settings in `wanted` that `described` does not hold: what the cluster silently
/// dropped.
fn not_applied(
    wanted: &BTreeMap<&'static str, Option<String>>,
    described: &BTreeMap<String, String>,
) -> Vec<String> {
    wanted
        .iter()
        .filter_map(|(k, v)| {
            let v = v.as_ref()?;
            let held = described.get(*k);
            let same = held.is_some_and(|h| h == v || (h.contains("compact") && v == "compact"));
            (!same).then(|| {
                format!(
                    "{k}={v} (the cluster holds {})",
                    held.map_or("nothing", String::as_str)
                )
            })
        })
        .collect()
}

/// A failed admin request: a cluster that does not implement it is 501 naming the Kafka
/// API (what a user must look for in the cluster's docs), anything else as usual.
fn admin_error(api: &str, topic: &str, e: &rdkafka::error::KafkaError) -> BackendError {
    // rdkafka reports a failed admin request as `AdminOp(code)`, which
    // `rdkafka_error_code()` does not see through.
    let code = match e {
        rdkafka::error::KafkaError::AdminOp(code) => Some(*code),
        e => e.rdkafka_error_code(),
    };
    match code {
        Some(RDKafkaErrorCode::UnsupportedFeature | RDKafkaErrorCode::UnsupportedVersion) => {
            BackendError::Unsupported(format!(
                "the Kafka cluster does not support {api}, which topic `{topic}` needs here: {e}"
            ))
        }
        _ => backend_error(api, e),
    }
}

impl Inner {
    fn admin_options(&self) -> AdminOptions {
        AdminOptions::new()
            .operation_timeout(Some(self.timeout()))
            .request_timeout(Some(self.timeout()))
    }

    /// The topic's configs as the cluster describes them, and which of them are set on the
    /// topic itself (dynamic), as opposed to defaults.
    async fn describe_configs(
        &self,
        name: &str,
    ) -> BackendResult<(BTreeMap<String, String>, BTreeMap<String, String>)> {
        let resource = ResourceSpecifier::Topic(name);
        let results = self
            .admin
            .describe_configs([&resource], &self.admin_options())
            .await
            .map_err(|e| {
                BackendError::Unsupported(format!(
                    "the Kafka cluster cannot describe the configs of topic `{name}` \
                     (DescribeConfigs: {e}); topic settings need a cluster that can"
                ))
            })?;
        let mut all = BTreeMap::new();
        let mut dynamic = BTreeMap::new();
        for r in results {
            match r {
                Ok(resource) => {
                    for e in resource.entries {
                        let Some(v) = e.value else { continue };
                        if matches!(e.source, ConfigSource::DynamicTopic) {
                            dynamic.insert(e.name.clone(), v.clone());
                        }
                        all.insert(e.name, v);
                    }
                }
                Err(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                    return Err(BackendError::UnknownTopic(name.to_owned()));
                }
                Err(code) => {
                    return Err(BackendError::Unsupported(format!(
                        "the Kafka cluster cannot describe the configs of topic `{name}`: {code}"
                    )));
                }
            }
        }
        Ok((all, dynamic))
    }

    /// Checks that the cluster holds what was asked; 501 naming each setting it dropped.
    async fn verify(
        &self,
        name: &str,
        wanted: &BTreeMap<&'static str, Option<String>>,
    ) -> BackendResult<TopicSettings> {
        let (described, _) = self.describe_configs(name).await?;
        let missing = not_applied(wanted, &described);
        if !missing.is_empty() {
            return Err(BackendError::Unsupported(format!(
                "the Kafka cluster accepted but does not apply these settings of topic \
                 `{name}`: {}",
                missing.join(", ")
            )));
        }
        Ok(settings_of(&described))
    }

    async fn info(
        self: &Arc<Self>,
        name: &str,
        settings: TopicSettings,
    ) -> BackendResult<TopicInfo> {
        let partitions = self.require_topic(name).await?;
        Ok(TopicInfo {
            name: name.to_owned(),
            partitions,
            created_ms: 0,
            settings,
            bytes: None,
        })
    }

    /// `POST /v2/kafka/topic` on the cluster.
    pub(super) async fn create_managed_topic(
        self: &Arc<Self>,
        name: &str,
        partitions: i32,
        patch: &SettingsPatch,
    ) -> BackendResult<TopicInfo> {
        if self.partition_count(name, true).await?.is_some() {
            return Err(BackendError::TopicExists(name.to_owned()));
        }
        let wanted = patch_configs(patch);
        let configs: Vec<(&str, &str)> = wanted
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
            .collect();
        self.create_topic(name, partitions, &configs, false).await?;
        let settings = self.verify(name, &wanted).await?;
        self.info(name, settings).await
    }

    /// Every topic with its settings, or the one named.
    pub(super) async fn describe_managed(
        self: &Arc<Self>,
        name: Option<String>,
    ) -> BackendResult<Vec<TopicInfo>> {
        let names: Vec<String> = match name {
            Some(n) => {
                self.require_topic(&n).await?;
                vec![n]
            }
            None => self.metadata(None).await?.into_keys().collect(),
        };
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let (configs, _) = self.describe_configs(&n).await?;
            out.push(self.info(&n, settings_of(&configs)).await?);
        }
        Ok(out)
    }

    /// `POST /v2/kafka/update-topic/{id}` on the cluster.
    pub(super) async fn alter_managed(
        self: &Arc<Self>,
        name: &str,
        patch: &SettingsPatch,
    ) -> BackendResult<TopicInfo> {
        self.require_topic(name).await?;
        let (_, dynamic) = self.describe_configs(name).await?;
        let wanted = patch_configs(patch);
        let mut merged: BTreeMap<String, String> = dynamic;
        for (k, v) in &wanted {
            match v {
                Some(v) => merged.insert((*k).to_owned(), v.clone()),
                None => merged.remove(*k),
            };
        }
        let mut alter = AlterConfig::new(ResourceSpecifier::Topic(name));
        for (k, v) in &merged {
            alter = alter.set(k, v);
        }
        let results = self
            .admin
            .alter_configs([&alter], &self.admin_options())
            .await
            .map_err(|e| admin_error("AlterConfigs", name, &e))?;
        for r in results {
            if let Err((_, code)) = r {
                return Err(match code {
                    RDKafkaErrorCode::UnknownTopicOrPartition => {
                        BackendError::UnknownTopic(name.to_owned())
                    }
                    RDKafkaErrorCode::InvalidConfig | RDKafkaErrorCode::InvalidRequest => {
                        BackendError::InvalidRequest(format!(
                            "the Kafka cluster refused the settings of topic `{name}`: {code}"
                        ))
                    }
                    code => BackendError::Unsupported(format!(
                        "the Kafka cluster cannot alter the configs of topic `{name}` \
                         (AlterConfigs: {code})"
                    )),
                });
            }
        }
        let settings = self.verify(name, &wanted).await?;
        self.info(name, settings).await
    }

    /// `DELETE /v2/kafka/topic/{id}` on the cluster; answered once the topic is gone from
    /// the metadata (or after the request timeout, when the cluster deletes it later).
    ///
    /// The gateway's consumer instances subscribed to the topic are closed first (their
    /// next consume is 404, a new instance gets unknown topic): a librdkafka consumer that
    /// keeps a deleted topic in its subscription crashed the process on Tansu 0.6 (a
    /// segfault in librdkafka 2.12's metadata cache, `rd_kafka_metadata_cache_find`, on the
    /// broker's metadata answer for the deleted topic). Kafka's own consumers would see the
    /// topic vanish from their assignment; closing them is the same for a REST client.
    pub(super) async fn delete_managed(self: &Arc<Self>, name: &str) -> BackendResult<()> {
        self.require_topic(name).await?;
        for instance in self.instances.take_subscribed(name) {
            tracing::info!(
                group = %instance.group,
                instance = %instance.id,
                topic = name,
                "consumer instance subscribed to a deleted topic: closed"
            );
            super::backend::close_instance(instance, true).await;
        }
        let results = self
            .admin
            .delete_topics(&[name], &self.admin_options())
            .await
            .map_err(|e| admin_error("DeleteTopics", name, &e))?;
        for r in results {
            match r {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                    return Err(BackendError::UnknownTopic(name.to_owned()));
                }
                Err((_, code)) => {
                    return Err(BackendError::Unsupported(format!(
                        "the Kafka cluster cannot delete topic `{name}` (DeleteTopics: {code})"
                    )));
                }
            }
        }
        self.forget_partitions(name);
        // Idle pooled fetchers may still be assigned to it: start afresh.
        self.drop_idle_fetchers();
        let deadline = Instant::now() + self.timeout();
        while Instant::now() < deadline {
            if self.partition_count(name, true).await?.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.forget_partitions(name);
        tracing::info!(topic = name, "deleted topic in the Kafka cluster");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_map_onto_kafka_configs_and_back() {
        let patch = SettingsPatch {
            retention_ms: Some(Some(2000)),
            retention_bytes: Some(None),
            max_message_bytes: Some(None),
            cleanup_policy: Some(CleanupPolicy::Compact),
            ..SettingsPatch::default()
        };
        let configs = patch_configs(&patch);
        assert_eq!(configs[RETENTION_MS].as_deref(), Some("2000"));
        assert_eq!(configs[RETENTION_BYTES].as_deref(), Some("-1"));
        assert_eq!(
            configs[MAX_MESSAGE_BYTES], None,
            "unset: the cluster's default"
        );
        assert!(
            !configs.contains_key(SEGMENT_MS),
            "unnamed settings are not sent"
        );
        let described: BTreeMap<String, String> = [
            (RETENTION_MS, "2000"),
            (RETENTION_BYTES, "-1"),
            (CLEANUP_POLICY, "compact,delete"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = settings_of(&described);
        assert_eq!(s.retention_ms, Some(2000));
        assert_eq!(s.retention_bytes, None);
        assert_eq!(s.cleanup_policy, CleanupPolicy::Compact);
        assert!(not_applied(&configs, &described).is_empty());
    }

    #[test]
    fn a_cluster_without_an_admin_api_is_501_naming_it() {
        let e = rdkafka::error::KafkaError::AdminOp(RDKafkaErrorCode::UnsupportedFeature);
        let got = admin_error("AlterConfigs", "t", &e);
        assert!(
            matches!(&got, BackendError::Unsupported(m) if m.contains("does not support AlterConfigs")),
            "{got:?}"
        );
        let e = rdkafka::error::KafkaError::AdminOp(RDKafkaErrorCode::BrokerTransportFailure);
        assert!(matches!(
            admin_error("DeleteTopics", "t", &e),
            BackendError::Internal(_)
        ));
    }

    #[test]
    fn a_setting_the_cluster_dropped_is_named() {
        let patch = SettingsPatch {
            retention_ms: Some(Some(2000)),
            ..SettingsPatch::default()
        };
        let described: BTreeMap<String, String> =
            [(RETENTION_MS.to_owned(), "604800000".to_owned())].into();
        let missing = not_applied(&patch_configs(&patch), &described);
        assert_eq!(missing, ["retention.ms=2000 (the cluster holds 604800000)"]);
    }
}
