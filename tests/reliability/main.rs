//! Reliability suite (issue 7): faults between client and server, the server under stress and
//! crashes, malformed input, secrets and TLS. Every test prints a `FIGURES <test>: …` line with
//! what it injected and counted; `RELIABILITY.md` quotes them.
//!
//! Everything runs on 127.0.0.1 and is bounded in time.

#[path = "../common/mod.rs"]
mod common;

mod compaction_crash;
mod consume_kill;
mod crash;
mod descriptors;
mod instances;
mod malformed;
mod produce_faults;
mod proxy;
mod secrets;
mod stress;
mod tls;
mod util;
