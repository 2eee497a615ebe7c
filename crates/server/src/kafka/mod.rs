//! Gateway mode: `upkafka serve --kafka BOOTSTRAP` serves the same REST API with a real Kafka
//! cluster behind it ([`KafkaBackend`]); nothing is stored by upkafka itself.
//!
//! # Choice of Kafka client: `rdkafka` (librdkafka)
//!
//! The backend needs consumer groups with static membership (KIP-345), an idempotent `acks=all`
//! producer, offsets for times, committed offsets, and it must work with the test broker
//! (Tansu 0.6) as well as Apache Kafka, Redpanda, MSK and Confluent Cloud. Evidence, checked
//! when this was written (2026-11):
//!
//! - `rdkafka` 0.39 wraps librdkafka 2.x, the client behind kcat, confluent-kafka-python/-go
//!   and most non-JVM Kafka tools: the classic group protocol with `group.instance.id`, the
//!   idempotent producer, `offsets_for_times`, `committed_offsets`, an admin client for topic
//!   creation, SASL/TLS. Its default build compiles the bundled librdkafka with the C
//!   compiler and `make` alone (no cmake, no system librdkafka), so it builds on a fresh
//!   machine; behind the `kafka` cargo feature (on by default) so that
//!   `--no-default-features` drops it.
//! - `confluent-kafka` 1.0 (pure Rust, translated from the Java client 4.x) supports consumer
//!   groups only over the KIP-848 protocol (`ConsumerGroupHeartbeat`), which needs Apache
//!   Kafka 4.0+ and which Tansu 0.6 does not implement (it implements JoinGroup/SyncGroup): a
//!   REST consumer could not join a group on the test broker or on older clusters.
//! - `rskafka` has no consumer-group membership at all.
//!
//! # How the API maps onto Kafka
//!
//! | REST | Kafka |
//! |------|-------|
//! | produce (all forms) | idempotent producer, `acks=all`; answered after every record is acknowledged |
//! | produce with `Idempotency-Key` | the same, then the answer written to `__upkafka_idempotency_keys`, which every gateway reads (`shared_keys`) |
//! | fetch | group-less consumer assigned to the given offsets (inclusive) |
//! | consume | one consumer per `(group, instance)`, `group.instance.id` = instance id |
//! | commit / committed | the instance's consumer: `commit` / `committed_offsets` |
//! | `/offsets/{ts}` | watermarks for `earliest`/`latest`, `offsets_for_times` for milliseconds |
//! | `/topics` | cluster metadata (internal `__…` topics left out) |
//! | `/consumers` | the instances this gateway runs and their current assignment |
//! | `/v2/kafka/topic…` | CreateTopics, DescribeConfigs, AlterConfigs, DeleteTopics (`topics`) |
//!
//! A batch is validated whole before anything is sent (topics, partitions, sizes), as on the
//! embedded log. Unlike the embedded log, Kafka cannot write one batch to several partitions
//! atomically without transactions: if the cluster fails part-way, the request fails (500),
//! some records may be stored, and a retry may duplicate them (at-least-once).
//!
//! # Several gateways
//!
//! Gateways keep no state of their own besides their consumer instances, so any number can
//! serve one cluster behind a load balancer. Produce, fetch, `/topics`, `/offsets` and
//! `/committed`… can go to any of them. A consumer instance lives in the gateway that
//! created it: route `/consume/{group}/{instance}`, `/commit/{group}/{instance}`,
//! `/committed/{group}/{instance}` and `/delete-consumer` for one `(group, instance)` to the
//! same gateway, e.g. by hashing the path segments `{group}/{instance}` (HAProxy
//! `balance uri depth 3`, or nginx `hash` on a variable captured from the path). A consume that
//! lands on another gateway would create a second Kafka consumer with the same static member
//! id, and the broker fences one of the two: route consistently. `tests/gateway/interop.rs`
//! runs two gateways on one cluster: produce through one, fetch through the other, one
//! instance of a group on each, splitting the partitions.

mod settings;

#[cfg(feature = "kafka")]
mod backend;
#[cfg(feature = "kafka")]
mod convert;
#[cfg(feature = "kafka")]
mod health;
#[cfg(feature = "kafka")]
mod instances;
#[cfg(feature = "kafka")]
mod shared_keys;
#[cfg(feature = "kafka")]
mod topics;

#[cfg(feature = "kafka")]
pub use backend::{KafkaBackend, KafkaOptions};
pub use settings::{KafkaSetting, KafkaSettings, MANAGED_KEYS, is_secret_key, read_properties};
