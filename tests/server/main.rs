//! Server tests: raw HTTP on the router (`oneshot`), consumer groups, durability.

#[path = "../common/mod.rs"]
mod common;

/// The storage under test; `tests/gateway` runs `http` with `Gateway`.
pub const BACKEND: common::Backend = common::Backend::Embedded;

mod cors;
mod durability;
mod early_checks;
mod fairness;
mod groups;
mod http;
mod idempotency;
mod instances;
mod metrics;
mod quotas;
mod restored_instances;
mod retention;
mod serving;
mod streams;
mod support;
mod tenancy;
mod tokens;
mod topic_deletion;
mod topics;
