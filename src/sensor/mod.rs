//! The tutorial's IoT scenario: a smart sensor publishes readings such as
//! `{"device": 7, "measure": "pressure", "value": 42}`; a monitor in a consumer group marks each
//! one OK or ERROR (pressure OK within 10..=50, temperature within 20..=80).
//!
//! This module holds the domain — [`Reading`], [`Ranges`] and [`classify`], [`Routing`], the
//! [`Simulator`], the [`Summary`] — and the two loops built on [`crate::rest::Client`]:
//! [`produce_readings`] and [`Monitor`]. The CLI (`upkafka sensor …`, `upkafka demo`) only wires
//! them to flags and a terminal.

mod classify;
mod monitor;
mod producer;
mod reading;
mod report;
mod simulator;
mod summary;

pub use classify::{Ranges, Status, classify};
pub use monitor::{Monitor, MonitorOptions, Verdict, evaluate};
pub use producer::{ProducerOptions, produce_readings};
pub use reading::{InvalidReading, Measure, Reading, Routing};
pub use report::{format_sent, format_verdict, verdict_json};
pub use simulator::Simulator;
pub use summary::Summary;
