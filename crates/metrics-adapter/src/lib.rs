//! The library behind `sextant-adapter`: its configuration, compatible with prometheus-adapter's
//! rules file and organised by that file's four verbs, and the layers that serve it.
//!
//! - [`config`]: the YAML (`rules`, `externalRules`) and its compilation into [`Rule`]s;
//! - [`discovery`]: which series a rule accepts and which Kubernetes resources they describe;
//! - [`naming`]: the API metric name of a series (`name.matches` / `name.as`);
//! - [`querying`]: the PromQL answering a request (`metricsQuery`);
//! - [`defaults`]: the rules used when no configuration is given;
//! - [`objects`]: the labels of Kubernetes objects, from watch-fed caches (`labelSelector`);
//! - [`registry`]: which metrics are servable, relisted from the store's `/api/v1/series`;
//! - [`provider`]: one request → one store query → the API's values, or a `Status` error;
//! - [`server`]: the axum router (plain HTTP, no access control of its own);
//! - [`tls`], [`auth`], [`trust`], [`authz`], [`serve`]: HTTPS, authentication (client
//!   certificates, front proxy, bearer tokens by TokenReview, CAs from the flags or the
//!   `extension-apiserver-authentication` ConfigMap), per-metric SubjectAccessReview
//!   authorization and the running adapter that puts them in front of the router;
//!   [`review`]: how both kinds of review are posted (retries, a time budget);
//!   [`reload`]: `--config` reloaded when it changes; [`serving_cert`]: the serving
//!   certificate, read again when cert-manager renews it; [`telemetry`]: the adapter's own
//!   `/metrics`; [`options`]: the command line.
//!
//! The first five do no I/O except [`Config::load`], which reads the file it is given; the
//! registry and provider talk to the store through [`metrics_store::MetricsStore`].
//!
//! ```
//! use std::collections::BTreeMap;
//! use metrics_adapter::Config;
//! use metrics_adapter::querying::{ObjectQuery, Objects};
//! use metrics_model::{Selector, association::GroupResource};
//!
//! let config = Config::from_yaml(r#"
//! rules:
//! - seriesQuery: '{__name__=~"^http_.*_total$",namespace!="",pod!=""}'
//!   resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
//!   name: {matches: "^(.*)_total$", as: "${1}_per_second"}
//!   metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)
//! "#)?;
//! let rule = &config.rules()[0];
//!
//! // Discovery: one series from the store's /api/v1/series answer.
//! let labels: BTreeMap<String, String> = [("__name__", "http_requests_total"), ("namespace", "shop"), ("pod", "web-1")]
//!     .into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
//! let found = rule.discover(&labels).expect("served");
//! assert_eq!(found.metric, "http_requests_per_second");
//!
//! // Querying: pods/web-1 in namespace shop.
//! let query = rule.object_query(&ObjectQuery {
//!     series: &found.series,
//!     resource: &GroupResource::new("pods", ""),
//!     namespace: Some("shop"),
//!     objects: Objects::Named(&["web-1".to_owned()]),
//!     metric_selector: &Selector::everything(),
//! })?;
//! assert_eq!(query, r#"sum(rate(http_requests_total{namespace="shop",pod="web-1"}[2m])) by (pod)"#);
//! # Ok::<(), metrics_adapter::Error>(())
//! ```

pub mod auth;
pub mod authz;
mod cache;
pub mod cert_dir;
pub mod config;
pub mod defaults;
pub mod discovery;
mod error;
pub mod naming;
pub mod objects;
pub mod options;
pub mod provider;
pub mod querying;
pub mod registry;
pub mod reload;
pub mod review;
pub mod serve;
pub mod server;
pub mod serving_cert;
pub mod single_flight;
pub mod telemetry;
pub mod tls;
pub mod tls_policy;
pub mod trust;

pub use config::{Config, Rule, RuleKind};
pub use error::{Error, Result};
