//! A sensor reading, its wire form, and where it is routed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a reading measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    /// Pressure, OK within 10..=50 by default.
    Pressure,
    /// Temperature, OK within 20..=80 by default.
    Temperature,
}

impl Measure {
    /// Both measures, in display order.
    pub const ALL: [Measure; 2] = [Measure::Pressure, Measure::Temperature];

    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Pressure => "pressure",
            Measure::Temperature => "temperature",
        }
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Measure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pressure" => Ok(Measure::Pressure),
            "temperature" => Ok(Measure::Temperature),
            other => Err(format!(
                "unknown measure `{other}`: expected pressure or temperature"
            )),
        }
    }
}

/// One reading as the sensor sends it: `{"device": 7, "measure": "pressure", "value": 42}`.
///
/// Written with `device`; read with `device` or `device_id` (the tutorial's JSON schema says
/// `device_id` while its code sends `device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Reading {
    /// Device id.
    pub device: i64,
    /// What was measured.
    pub measure: Measure,
    /// The measured value.
    pub value: i64,
}

/// Why a payload is not a valid reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReading {
    /// The payload is not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// The payload is JSON but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// A required field is missing.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field has the wrong type (e.g. a string or a fraction where an integer belongs).
    #[error("field `{field}` must be {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// `measure` names something other than pressure or temperature.
    #[error("unknown measure `{0}`")]
    UnknownMeasure(String),
}

impl Reading {
    /// Parses a message value, naming what is wrong when it is not a reading.
    ///
    /// # Errors
    /// An [`InvalidReading`] saying what is wrong.
    pub fn parse(payload: &str) -> Result<Self, InvalidReading> {
        let v: serde_json::Value =
            serde_json::from_str(payload).map_err(|e| InvalidReading::NotJson(e.to_string()))?;
        let obj = v.as_object().ok_or(InvalidReading::NotAnObject)?;
        let int = |field: &'static str, v: &serde_json::Value| {
            v.as_i64().ok_or(InvalidReading::WrongType {
                field,
                expected: "an integer",
            })
        };
        let device = match (obj.get("device"), obj.get("device_id")) {
            (Some(v), _) => int("device", v)?,
            (None, Some(v)) => int("device_id", v)?,
            (None, None) => return Err(InvalidReading::MissingField("device")),
        };
        let measure = obj
            .get("measure")
            .ok_or(InvalidReading::MissingField("measure"))?
            .as_str()
            .ok_or(InvalidReading::WrongType {
                field: "measure",
                expected: "a string",
            })?;
        let measure = measure
            .parse()
            .map_err(|_| InvalidReading::UnknownMeasure(measure.to_owned()))?;
        let value = int(
            "value",
            obj.get("value")
                .ok_or(InvalidReading::MissingField("value"))?,
        )?;
        Ok(Self {
            device,
            measure,
            value,
        })
    }

    /// The JSON text the sensor sends.
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"device":{},"measure":"{}","value":{}}}"#,
            self.device, self.measure, self.value
        )
    }
}

/// Which partition each measure goes to: pressure to 1 and temperature to 2 by default, as in
/// the tutorial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routing {
    /// Partition for pressure readings.
    pub pressure: i32,
    /// Partition for temperature readings.
    pub temperature: i32,
}

impl Default for Routing {
    fn default() -> Self {
        Self {
            pressure: 1,
            temperature: 2,
        }
    }
}

impl Routing {
    /// The partition for a measure.
    pub fn partition(&self, measure: Measure) -> i32 {
        match measure {
            Measure::Pressure => self.pressure,
            Measure::Temperature => self.temperature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_field_names_and_writes_device() {
        let a = Reading::parse(r#"{"device": 7, "measure": "pressure", "value": 42}"#).unwrap();
        let b = Reading::parse(r#"{"device_id": 7, "measure": "pressure", "value": 42}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.to_json(),
            r#"{"device":7,"measure":"pressure","value":42}"#
        );
        assert_eq!(Reading::parse(&a.to_json()).unwrap(), a);
        let json = serde_json::to_value(a).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"device": 7, "measure": "pressure", "value": 42})
        );
    }

    #[test]
    fn each_kind_of_invalid_payload_is_named() {
        let cases: [(&str, InvalidReading); 8] = [
            ("{not json", InvalidReading::NotJson(String::new())),
            ("[1,2]", InvalidReading::NotAnObject),
            (
                r#"{"measure":"pressure","value":1}"#,
                InvalidReading::MissingField("device"),
            ),
            (
                r#"{"device":1,"value":1}"#,
                InvalidReading::MissingField("measure"),
            ),
            (
                r#"{"device":1,"measure":"pressure"}"#,
                InvalidReading::MissingField("value"),
            ),
            (
                r#"{"device":1,"measure":"humidity","value":1}"#,
                InvalidReading::UnknownMeasure("humidity".into()),
            ),
            (
                r#"{"device":"7","measure":"pressure","value":1}"#,
                InvalidReading::WrongType {
                    field: "device",
                    expected: "an integer",
                },
            ),
            (
                r#"{"device":7,"measure":"pressure","value":4.5}"#,
                InvalidReading::WrongType {
                    field: "value",
                    expected: "an integer",
                },
            ),
        ];
        for (payload, want) in cases {
            let got = Reading::parse(payload).unwrap_err();
            match (&got, &want) {
                (InvalidReading::NotJson(_), InvalidReading::NotJson(_)) => {}
                _ => assert_eq!(got, want, "{payload}"),
            }
        }
    }

    #[test]
    fn routing_follows_the_tutorial() {
        let r = Routing::default();
        assert_eq!(r.partition(Measure::Pressure), 1);
        assert_eq!(r.partition(Measure::Temperature), 2);
    }
}
