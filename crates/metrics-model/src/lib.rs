//! The vocabulary Sextant's adapter and controller share: which metric, for which Kubernetes
//! objects, selected how, with what value, and how that becomes a PromQL query.
//!
//! This crate does no I/O. It parses and validates what arrives in requests and custom resources
//! (label selectors, quantities, metric and label names), defines the wire types of the
//! `custom.metrics.k8s.io` and `external.metrics.k8s.io` APIs, and builds PromQL in which no
//! request-supplied string can change the structure of the query.

pub mod api;
pub mod association;
mod error;
pub mod promql;
pub mod quantity;
pub mod selector;

pub use error::{Error, Result};
pub use quantity::Quantity;
pub use selector::Selector;
