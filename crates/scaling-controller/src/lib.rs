//! sextant-controller's library: the decision core shared by the controller's reconcile loop
//! and its offline tools.
//!
//! - [`recommend`] turns a snapshot of a target (replica counts, pods, metric readings, history)
//!   into a replica count with the HPA's arithmetic, and holds the `recommend` JSON contract.
//! - [`behavior`] holds the autoscaling/v2 behavior types, their defaults, and the
//!   stabilization and rate-limit step that follows the metrics.
//!
//! Everything here is pure: no clock, no I/O, except [`recommend::cli`], which reads stdin and
//! writes stdout for `sextant-controller recommend`.

pub mod behavior;
pub mod controller;
mod error;
pub mod policy;
pub mod recommend;
pub mod simulate;

pub use error::{Error, Result};
