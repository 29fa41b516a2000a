//! Wire types of the metrics APIs, serialized exactly as the Kubernetes API serializes them.
//!
//! Object references, label selectors, list metadata, timestamps (RFC 3339, whole seconds) and
//! discovery documents are the `k8s-openapi` types, so their field names and omit-empty rules
//! are the API server's own; this module adds what `k8s-openapi` lacks.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, Time};
use serde::{Serialize, Serializer};

pub mod custom_metrics;
pub mod discovery;
pub mod external_metrics;
pub mod list_json;
pub mod status;

/// A list with `kind` and `apiVersion` first and `metadata` always present, as the API server
/// writes lists (items carry no type fields of their own).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListWire<'a, T> {
    kind: &'static str,
    api_version: &'static str,
    metadata: &'a ListMeta,
    items: &'a [T],
}

macro_rules! typed_list_serialize {
    ($list:ty, $kind:expr, $api_version:expr) => {
        impl serde::Serialize for $list {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $crate::api::ListWire {
                    kind: $kind,
                    api_version: $api_version,
                    metadata: &self.metadata,
                    items: &self.items,
                }
                .serialize(serializer)
            }
        }
    };
}
use typed_list_serialize;

/// Writes a `Time` exactly as `k8s-openapi` does (RFC 3339 in UTC, whole seconds, `Z`), with
/// fixed-width digits instead of its general-purpose `strftime`, which took a quarter of the
/// time of serializing a list of metric values (one timestamp per item).
pub(crate) fn serialize_time<S: Serializer>(time: &Time, serializer: S) -> Result<S::Ok, S::Error> {
    let civil = jiff::tz::Offset::UTC.to_datetime(time.0);
    let Ok(year) = u16::try_from(civil.year()) else {
        // Years before 0 (never a sample's): the general formatter writes them its own way.
        return time.serialize(serializer);
    };
    let mut text = *b"0000-00-00T00:00:00Z";
    let fields = [
        (0, 4, year),
        (5, 2, civil.month().unsigned_abs().into()),
        (8, 2, civil.day().unsigned_abs().into()),
        (11, 2, civil.hour().unsigned_abs().into()),
        (14, 2, civil.minute().unsigned_abs().into()),
        (17, 2, civil.second().unsigned_abs().into()),
    ];
    for (start, width, mut number) in fields {
        for digit in text[start..start + width].iter_mut().rev() {
            *digit = b'0' + (number % 10) as u8;
            number /= 10;
        }
    }
    let text = std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?;
    serializer.serialize_newtype_struct("Time", text)
}

#[cfg(test)]
mod tests;
