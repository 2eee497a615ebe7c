//! The tutorial's IoT scenario: a smart sensor publishes readings such as
//! `{"device": 7, "measure": "pressure", "value": 42}`; a monitor in a consumer group marks each
//! one OK or ERROR (pressure OK within 10..=50, temperature within 20..=80).
//!
//! The pure domain — [`Reading`], [`Ranges`] and [`classify`], [`Routing`] — lives in the
//! `upkafka-sensor` crate, which the server's console shares. This module adds what only the
//! CLI needs: the [`Simulator`], the [`Summary`], and the two loops built on
//! [`upkafka_client::Client`], [`produce_readings`] and [`Monitor`]. The subcommands
//! (`upkafka sensor …`, `upkafka demo`) only wire them to flags and a terminal.

mod monitor;
mod producer;
mod report;
mod simulator;
mod summary;

pub use monitor::{Monitor, MonitorOptions, Verdict};
pub use producer::{ProducerOptions, produce_readings};
pub use report::{format_sent, format_verdict, verdict_json};
pub use simulator::Simulator;
pub use summary::Summary;
pub use upkafka_sensor::{InvalidReading, Measure, Ranges, Reading, Routing, Status, classify};
