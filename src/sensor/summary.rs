//! Counts per measure and the devices in ERROR, printed when a monitor stops.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::{Measure, Status, Verdict};

/// OK and ERROR counts of one measure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Readings within range.
    pub ok: u64,
    /// Readings out of range.
    pub error: u64,
}

/// What a monitor saw: OK/ERROR per measure, INVALID payloads, and devices with an ERROR.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Counts per measure.
    pub measures: BTreeMap<Measure, Counts>,
    /// Payloads that were not valid readings.
    pub invalid: u64,
    /// Devices that sent at least one ERROR reading.
    pub devices_in_error: BTreeSet<i64>,
}

impl Summary {
    /// Adds one verdict.
    pub fn record(&mut self, verdict: &Verdict) {
        match verdict {
            Verdict::Reading { reading, status } => {
                let counts = self.measures.entry(reading.measure).or_default();
                match status {
                    Status::Ok => counts.ok += 1,
                    Status::Error => {
                        counts.error += 1;
                        self.devices_in_error.insert(reading.device);
                    }
                }
            }
            Verdict::Invalid { .. } => self.invalid += 1,
        }
    }

    /// Readings seen, valid or not.
    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.measures.values().map(|c| c.ok + c.error).sum::<u64>() + self.invalid
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<12} {:>6} {:>6} {:>8}",
            "MEASURE", "OK", "ERROR", "INVALID"
        )?;
        for m in Measure::ALL {
            let c = self.measures.get(&m).copied().unwrap_or_default();
            writeln!(
                f,
                "{:<12} {:>6} {:>6} {:>8}",
                m.as_str(),
                c.ok,
                c.error,
                "-"
            )?;
        }
        writeln!(
            f,
            "{:<12} {:>6} {:>6} {:>8}",
            "(invalid)", "-", "-", self.invalid
        )?;
        let devices: Vec<String> = self.devices_in_error.iter().map(i64::to_string).collect();
        write!(
            f,
            "devices in ERROR ({}): {}",
            devices.len(),
            if devices.is_empty() {
                "none".to_owned()
            } else {
                devices.join(", ")
            }
        )
    }
}
