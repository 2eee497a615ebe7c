//! Envelopes every endpoint shares: object-or-array bodies, `{error,status}`, `{result,status}`.

use serde::{Deserialize, Serialize};

/// A body that the API accepts either as one JSON object or as an array of them (spec §2.2).
///
/// Serialising keeps the shape that was chosen, so a client can send exactly what a user of the
/// official client would send; [`OneOrMany::into_vec`] gives the server one shape to work on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single JSON object.
    One(T),
    /// A JSON array of objects.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The items in request order, whatever the shape.
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(item) => vec![item],
            OneOrMany::Many(items) => items,
        }
    }

    /// Number of items in the body.
    pub fn len(&self) -> usize {
        match self {
            OneOrMany::One(_) => 1,
            OneOrMany::Many(items) => items.len(),
        }
    }

    /// True for an empty array (a single object is never empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> From<Vec<T>> for OneOrMany<T> {
    fn from(items: Vec<T>) -> Self {
        OneOrMany::Many(items)
    }
}

impl<T> From<T> for OneOrMany<T> {
    fn from(item: T) -> Self {
        OneOrMany::One(item)
    }
}

/// The error body of every failed request: `{"error": "...", "status": N}` (spec §2.4).
///
/// `status` repeats the HTTP status code. The official client also reads an optional `result`,
/// which the server never sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable description of the failure.
    pub error: String,
    /// The HTTP status code, repeated.
    pub status: u16,
}

impl ErrorBody {
    /// An error body for `status` with the given message.
    pub fn new(status: u16, error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            status,
        }
    }
}

/// The success body of commit and delete-consumer: `{"result": "Success", "status": 200}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessBody {
    /// Always `"Success"` from the server.
    pub result: String,
    /// Always 200.
    pub status: u16,
}

impl SuccessBody {
    /// The one success body the API knows.
    pub fn ok() -> Self {
        Self {
            result: "Success".to_owned(),
            status: 200,
        }
    }
}

impl Default for SuccessBody {
    fn default() -> Self {
        Self::ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_or_many_accepts_both_shapes_and_keeps_order() {
        let one: OneOrMany<u32> = serde_json::from_str("7").unwrap();
        assert_eq!(one.into_vec(), vec![7]);
        let many: OneOrMany<u32> = serde_json::from_str("[3,1,2]").unwrap();
        assert_eq!(many.len(), 3);
        assert_eq!(many.into_vec(), vec![3, 1, 2]);
        let empty: OneOrMany<u32> = serde_json::from_str("[]").unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn error_and_success_bodies_have_the_documented_shape() {
        let err = serde_json::to_value(ErrorBody::new(400, "bad")).unwrap();
        assert_eq!(err, serde_json::json!({"error": "bad", "status": 400}));
        let ok = serde_json::to_value(SuccessBody::ok()).unwrap();
        assert_eq!(ok, serde_json::json!({"result": "Success", "status": 200}));
    }
}
