//! Validated Prometheus metric and label names: the only identifiers a query may contain
//! unquoted, so they are checked character by character before they reach PromQL.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// A Prometheus metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricName(String);

/// A Prometheus label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelName(String);

/// The first byte that breaks an identifier rule, with the rule it breaks.
fn first_invalid(name: &str, allow_colon: bool) -> Option<(usize, &'static str)> {
    let allowed = |b: u8, first: bool| {
        b.is_ascii_alphabetic()
            || b == b'_'
            || (allow_colon && b == b':')
            || (!first && b.is_ascii_digit())
    };
    if name.is_empty() {
        return Some((0, "must not be empty"));
    }
    name.bytes().enumerate().find_map(|(position, byte)| {
        (!allowed(byte, position == 0)).then_some((
            position,
            if position == 0 {
                "must start with a letter or '_' (or ':' in metric names)"
            } else {
                "may contain only letters, digits and '_' (and ':' in metric names)"
            },
        ))
    })
}

impl MetricName {
    /// Checks and wraps a metric name.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        match first_invalid(&name, true) {
            Some((position, reason)) => Err(Error::MetricName {
                name,
                position,
                reason,
            }),
            None => Ok(MetricName(name)),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl LabelName {
    /// Checks and wraps a label name.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        match first_invalid(&name, false) {
            Some((position, reason)) => Err(Error::LabelName {
                name,
                position,
                reason,
            }),
            None => Ok(LabelName(name)),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self> {
                $name::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(
                deserializer: D,
            ) -> std::result::Result<Self, D::Error> {
                $name::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(MetricName);
string_newtype!(LabelName);
