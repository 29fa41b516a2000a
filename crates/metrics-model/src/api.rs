//! Wire types of the metrics APIs, serialized exactly as the Kubernetes API serializes them.
//!
//! Object references, label selectors, list metadata, timestamps (RFC 3339, whole seconds) and
//! discovery documents are the `k8s-openapi` types, so their field names and omit-empty rules
//! are the API server's own; this module adds what `k8s-openapi` lacks.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use serde::Serialize;

pub mod custom_metrics;
pub mod discovery;
pub mod external_metrics;
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

#[cfg(test)]
mod tests;
