//! Task ids: 63-bit integers that travel as decimal strings (they exceed 2^53, so JavaScript and
//! other JSON readers would round them as numbers). Accepted as numbers or numeric strings.

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid task id {0:?}: expected a non-negative decimal integer")]
pub struct TaskIdError(pub String);

impl FromStr for TaskId {
    type Err = TaskIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse::<u64>().map(TaskId).map_err(|_| TaskIdError(s.to_string()))
    }
}

impl Serialize for TaskId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = TaskId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a task id as a non-negative integer or a numeric string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TaskId, E> {
                Ok(TaskId(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TaskId, E> {
                u64::try_from(v).map(TaskId).map_err(|_| E::custom(format!("negative task id {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TaskId, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A decimal string on the wire (answers always send one; requests may also send a number).
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for TaskId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9]{1,20}$"))
            .description(Some("A task id: a decimal string (ids exceed 2^53)"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for TaskId {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_string_and_accepts_numbers_or_strings() {
        let id = TaskId(7_300_000_000_000_000_001);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"7300000000000000001\"");
        let from_num: TaskId = serde_json::from_str("7300000000000000001").unwrap();
        let from_str: TaskId = serde_json::from_str("\"7300000000000000001\"").unwrap();
        assert_eq!(from_num, id);
        assert_eq!(from_str, id);
    }

    #[test]
    fn rejects_negative_and_garbage() {
        assert!(serde_json::from_str::<TaskId>("-1").is_err());
        assert!(serde_json::from_str::<TaskId>("\"12a\"").is_err());
        assert!(serde_json::from_str::<TaskId>("1.5").is_err());
    }
}
