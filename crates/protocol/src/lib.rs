//! The Upstash Kafka REST wire model, shared by upkafka's client (`upkafka-client`) and its
//! server (`upkafka-server`).
//!
//! Everything here is plain serde data: request and response bodies with the field names of the
//! API (see `docs/protocol.md` in the repository), the `{error,status}` / `{result,status}`
//! envelopes and the `Kafka-*` header names. It depends on neither the HTTP client nor the
//! server framework, so both sides read and write exactly one model of the protocol.
//!
//! Section numbers (“spec §N”, “§12 q. N”) refer to the protocol reference in the repository,
//! `docs/protocol.md`.

mod admin;
mod body;
mod consumer;
mod decode;
mod encode;
mod headers;
mod message;
mod names;
mod offsets;
mod produce;
mod secret;
mod topic_admin;

pub use admin::{
    ANY_TOPIC, Cluster, CreateCredentialRequest, Credential, Permission, RateLimits, Token,
    TokenRequest,
};
pub use body::{ErrorBody, OneOrMany, SuccessBody};
pub use consumer::{
    ConsumeRequest, ConsumerConfig, FetchRequest, GroupAssignments, InstanceAssignments,
    TopicAssignments,
};
pub use decode::decode_messages;
pub use encode::{encoded_len_hint, messages_to_vec, produce_metadata_to_vec, write_messages};
pub use headers::{
    AutoOffsetReset, IDEMPOTENCY_KEY, KAFKA_AUTO_COMMIT_INTERVAL, KAFKA_AUTO_OFFSET_RESET,
    KAFKA_ENABLE_AUTO_COMMIT, KAFKA_SESSION_TIMEOUT_MS, WEBHOOK_EXCLUDED_HEADERS,
};
pub use message::{Header, Message, next_offsets, record_size};
pub use names::{MAX_TOPIC_NAME_LEN, validate_topic_name};
pub use offsets::{OffsetSpec, TopicPartition, TopicPartitionOffset, Topics};
pub use produce::{ProduceMetadata, ProduceRecord};
pub use secret::Password;
pub use topic_admin::{
    CreateTopicRequest, StatPoint, TopicDetails, TopicStats, UNLIMITED, UpdateTopicRequest,
};

/// Default `timeout` (ms) of fetch and consume when the request names none (spec §4.2, §4.3).
pub const DEFAULT_POLL_TIMEOUT_MS: u64 = 1_000;
/// Default `timeout` (ms) of `/committed` and `/offsets` when the request names none (spec §4.5).
pub const DEFAULT_METADATA_TIMEOUT_MS: u64 = 10_000;
