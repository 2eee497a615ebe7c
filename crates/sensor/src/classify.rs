//! OK or ERROR: the tutorial's rule.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use super::{Measure, Reading};

/// The OK range of each measure, bounds inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranges {
    /// OK pressure values (default 10..=50).
    pub pressure: RangeInclusive<i64>,
    /// OK temperature values (default 20..=80).
    pub temperature: RangeInclusive<i64>,
}

impl Default for Ranges {
    fn default() -> Self {
        Self {
            pressure: 10..=50,
            temperature: 20..=80,
        }
    }
}

impl Ranges {
    /// The OK range for a measure.
    pub fn for_measure(&self, measure: Measure) -> &RangeInclusive<i64> {
        match measure {
            Measure::Pressure => &self.pressure,
            Measure::Temperature => &self.temperature,
        }
    }

    /// Parses a range written `LOW..=HIGH` (or `LOW:HIGH`), bounds inclusive, for flags.
    ///
    /// # Errors
    /// A message saying what form is expected.
    pub fn parse_range(s: &str) -> Result<RangeInclusive<i64>, String> {
        let (lo, hi) = s
            .split_once("..=")
            .or_else(|| s.split_once(".."))
            .or_else(|| s.split_once(':'))
            .ok_or_else(|| format!("range `{s}`: expected LOW..=HIGH, e.g. 10..=50"))?;
        let num = |v: &str| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| format!("range `{s}`: `{v}` is not an integer"))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(format!("range `{s}`: low bound is above high bound"));
        }
        Ok(lo..=hi)
    }
}

/// The verdict on one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Within the range of its measure.
    Ok,
    /// Outside it.
    Error,
}

impl Status {
    /// `OK` or `ERROR`, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Error => "ERROR",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "OK" => Ok(Status::Ok),
            "ERROR" => Ok(Status::Error),
            other => Err(format!("unknown status `{other}`")),
        }
    }
}

/// OK when the value lies within its measure's range (bounds inclusive), ERROR otherwise.
pub fn classify(reading: &Reading, ranges: &Ranges) -> Status {
    if ranges.for_measure(reading.measure).contains(&reading.value) {
        Status::Ok
    } else {
        Status::Error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(measure: Measure, value: i64) -> Status {
        classify(
            &Reading {
                device: 1,
                measure,
                value,
            },
            &Ranges::default(),
        )
    }

    #[test]
    fn pressure_bounds_are_inclusive() {
        assert_eq!(status(Measure::Pressure, 9), Status::Error);
        assert_eq!(status(Measure::Pressure, 10), Status::Ok);
        assert_eq!(status(Measure::Pressure, 50), Status::Ok);
        assert_eq!(status(Measure::Pressure, 51), Status::Error);
    }

    #[test]
    fn temperature_bounds_are_inclusive() {
        assert_eq!(status(Measure::Temperature, 19), Status::Error);
        assert_eq!(status(Measure::Temperature, 20), Status::Ok);
        assert_eq!(status(Measure::Temperature, 80), Status::Ok);
        assert_eq!(status(Measure::Temperature, 81), Status::Error);
    }

    #[test]
    fn ranges_are_configurable() {
        let ranges = Ranges {
            pressure: Ranges::parse_range("0..=5").unwrap(),
            ..Ranges::default()
        };
        let r = Reading {
            device: 1,
            measure: Measure::Pressure,
            value: 42,
        };
        assert_eq!(classify(&r, &ranges), Status::Error);
        assert_eq!(Ranges::parse_range("10-50").ok(), None);
        assert_eq!(Ranges::parse_range("10:50").unwrap(), 10..=50);
        assert!(Ranges::parse_range("50..=10").is_err());
    }
}
