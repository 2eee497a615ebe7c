//! The IoT tutorial's domain, with no I/O: a smart sensor publishes readings such as
//! `{"device": 7, "measure": "pressure", "value": 42}`, and each one is OK or ERROR (pressure
//! OK within 10..=50, temperature within 20..=80).
//!
//! It is a crate of its own so that both sides of the project use one definition: the
//! `upkafka` CLI's `sensor` and `demo` loops (on the client) and the server's console, which
//! marks each message it shows, without the server linking the client.
//!
//! ```
//! use upkafka_sensor::{Ranges, Reading, Status, classify};
//!
//! let reading = Reading::parse(r#"{"device": 7, "measure": "pressure", "value": 42}"#)?;
//! assert_eq!(classify(&reading, &Ranges::default()), Status::Ok);
//! # Ok::<(), upkafka_sensor::InvalidReading>(())
//! ```

mod classify;
mod reading;

pub use classify::{Ranges, Status, classify};
pub use reading::{InvalidReading, Measure, Reading, Routing};
