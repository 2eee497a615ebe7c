//! Server tests: raw HTTP on the router (`oneshot`), consumer groups, durability.

#[path = "../common/mod.rs"]
mod common;

mod durability;
mod groups;
mod http;
mod metrics;
mod serving;
mod support;
