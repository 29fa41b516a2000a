//! The one error type of the adapter library: configuration that cannot be loaded, requests
//! that cannot become a query, and requests the store could not answer; [`Error::status`]
//! turns each into the Kubernetes `Status` an API client receives.

use std::path::PathBuf;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use metrics_model::api::status::{StatusReason, failure, failure_for};

/// Why a configuration could not be loaded or a request could not be turned into a query.
///
/// Configuration errors name where the problem is as a path into the YAML (`rules[2].name.matches`)
/// so an operator can fix the file without guessing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read.
    #[error("cannot read adapter configuration {}: {source}", path.display())]
    Read {
        /// The file as given.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// The configuration is not YAML of the expected shape (the message carries the path of the
    /// offending field, and its line and column).
    #[error("invalid adapter configuration: {source}")]
    Yaml {
        /// The parser's error.
        #[from]
        source: yaml_serde::Error,
    },

    /// A regular expression in the configuration does not compile.
    #[error("{at}: invalid regex {pattern:?}: {source}")]
    Regex {
        /// Where in the configuration, e.g. `rules[2].name.matches`.
        at: String,
        /// The expression as written.
        pattern: String,
        /// The regex engine's complaint.
        source: Box<regex::Error>,
    },

    /// A `metricsQuery` template uses something other than the supported `<<.Field>>` actions.
    #[error("{at}: {reason}")]
    Template {
        /// Where in the configuration, e.g. `externalRules[0].metricsQuery`.
        at: String,
        /// What is wrong with the template.
        reason: String,
    },

    /// A configuration value is present but unusable (empty, or not a valid name or resource).
    #[error("{at}: {reason}")]
    Invalid {
        /// Where in the configuration, e.g. `rules[1].resources.overrides.pod_name`.
        at: String,
        /// What is wrong with the value.
        reason: String,
    },

    /// A request value could not be expressed in PromQL (for example a label selector key that
    /// is not a Prometheus label name).
    #[error("{context}: {source}")]
    Request {
        /// Which part of the request.
        context: String,
        /// The vocabulary crate's error.
        source: metrics_model::Error,
    },

    /// A request names a resource that the rule does not map to any series label.
    #[error("rule {rule} does not associate resource {resource} with a series label")]
    UnmappedResource {
        /// The rule, e.g. `rules[0]`.
        rule: String,
        /// The resource, e.g. `deployments.apps`.
        resource: String,
    },

    /// A request names a metric the registry does not serve for the resource (or at all).
    #[error("{}", unknown_metric_message(metric, scope, known))]
    UnknownMetric {
        /// The API group asked (`custom.metrics.k8s.io` or `external.metrics.k8s.io`).
        group: &'static str,
        /// The metric as requested.
        metric: String,
        /// What it was asked for: a resource (`pods`) or `external metrics`.
        scope: String,
        /// Up to ten metrics that are served for that scope, to help spot a typo.
        known: Vec<String>,
    },

    /// The metric is served for the resource, but the store has no value for the named object.
    #[error(
        "metric {metric} has no value for {resource} {name:?}{}",
        namespace.as_deref().map(|ns| format!(" in namespace {ns}")).unwrap_or_default()
    )]
    NoValue {
        /// The metric.
        metric: String,
        /// The resource, e.g. `pods`.
        resource: String,
        /// The namespace, for namespaced objects.
        namespace: Option<String>,
        /// The object's name.
        name: String,
    },

    /// The request path is not one the adapter serves.
    #[error("the adapter serves no resource at {path}")]
    NoRoute {
        /// The path as requested.
        path: String,
    },

    /// The request path cannot be read as one path: a percent-encoding that is not UTF-8, or
    /// an encoded `/` inside a segment (answered 400, never routed or authorized apart).
    #[error("malformed request path {path}: {reason}")]
    MalformedPath {
        /// The path as requested.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A query parameter could not be parsed (a malformed label selector).
    #[error("invalid {parameter}: {source}")]
    Parameter {
        /// The parameter, e.g. `metricLabelSelector`.
        parameter: &'static str,
        /// The parser's error.
        source: metrics_model::Error,
    },

    /// `labelSelector` could not be resolved: no Kubernetes connection, or the label cache of
    /// the resource has not synced (answered 503; retrying later may work).
    #[error("{0}")]
    ObjectsUnavailable(String),

    /// The request uses something this build does not implement yet.
    #[error("{0}")]
    Unsupported(String),

    /// TLS material (certificate, key, CA bundle) could not be read or used, or the server
    /// could not start listening.
    #[error("{what}: {reason}")]
    Tls {
        /// Which file or step, e.g. `--client-ca-file /etc/ca.pem`.
        what: String,
        /// What went wrong.
        reason: String,
    },

    /// The request carries no credentials the adapter accepts (answered 401).
    #[error("Unauthorized: {0}")]
    Unauthenticated(String),

    /// The TokenReview of a bearer token could not be made; the request is refused (401, as
    /// k8s.io/apiserver answers a failed token authentication).
    #[error("Unauthorized: {}: {_0}", crate::auth::TOKEN_REVIEW_FAILED)]
    TokenReviewFailed(String),

    /// The `extension-apiserver-authentication` ConfigMap holds something unusable (logged;
    /// the last good content stays in force).
    #[error("{at}: {reason}")]
    AuthenticationConfig {
        /// The ConfigMap and key, e.g.
        /// `ConfigMap kube-system/extension-apiserver-authentication key requestheader-allowed-names`.
        at: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The SubjectAccessReview denied the request (answered 403).
    #[error("{}", forbidden_message(user, attributes, reason))]
    Forbidden {
        /// The user asking.
        user: String,
        /// What was asked for.
        attributes: Box<crate::authz::Attributes>,
        /// The authorizer's reason, possibly empty.
        reason: String,
    },

    /// The SubjectAccessReview could not be made; the request is refused (500, fail closed).
    #[error(
        "Internal error occurred: authorization could not be checked (SubjectAccessReview failed): {0}"
    )]
    AuthorizerFailed(String),

    /// The request asks for a connection upgrade, which the adapter never performs (400).
    #[error("connection upgrades ({0}) are not served")]
    Upgrade(String),

    /// The metrics store could not answer (unreachable, slow, garbage, rejected query).
    #[error(transparent)]
    Store(#[from] metrics_store::Error),
}

fn forbidden_message(user: &str, a: &crate::authz::Attributes, reason: &str) -> String {
    if !a.path.is_empty() {
        // kube-apiserver's wording for non-resource URLs.
        let reason = if reason.is_empty() {
            String::new()
        } else {
            format!(": {reason}")
        };
        return format!(
            "forbidden: User {user:?} cannot {} path {:?}{reason}",
            a.verb, a.path
        );
    }
    let object = if a.name.is_empty() {
        a.full_resource()
    } else {
        format!("{} {:?}", a.full_resource(), a.name)
    };
    let scope = if a.namespace.is_empty() {
        " at the cluster scope".to_owned()
    } else {
        format!(" in the namespace {:?}", a.namespace)
    };
    let reason = if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    };
    format!(
        "{object} is forbidden: User {user:?} cannot {} resource {:?} in API group {:?}{scope}{reason}",
        a.verb,
        a.full_resource(),
        a.group
    )
}

fn unknown_metric_message(metric: &str, scope: &str, known: &[String]) -> String {
    let known = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    format!("metric {metric} is not served for {scope}; known metrics: {known}")
}

impl Error {
    /// The `Status` an API client receives for this error; its `code` is the HTTP status.
    pub fn status(&self) -> Status {
        let message = self.to_string();
        match self {
            Error::UnknownMetric {
                group,
                metric,
                scope,
                ..
            } => failure_for(StatusReason::NotFound, message, group, scope, metric),
            Error::NoValue { resource, name, .. } => failure_for(
                StatusReason::NotFound,
                message,
                metrics_model::api::custom_metrics::GROUP,
                resource,
                name,
            ),
            _ => failure(self.reason(), message),
        }
    }

    /// The `StatusReason` (and so the HTTP status) this error is answered with.
    pub fn reason(&self) -> StatusReason {
        use metrics_store::Error as Store;
        match self {
            Error::UnknownMetric { .. } | Error::NoValue { .. } | Error::NoRoute { .. } => {
                StatusReason::NotFound
            }
            Error::Parameter { .. }
            | Error::MalformedPath { .. }
            | Error::Request { .. }
            | Error::Unsupported(_)
            | Error::Upgrade(_) => StatusReason::BadRequest,
            Error::Unauthenticated(_) | Error::TokenReviewFailed(_) => StatusReason::Unauthorized,
            Error::Forbidden { .. } => StatusReason::Forbidden,
            Error::AuthorizerFailed(_) => StatusReason::InternalError,
            Error::Store(Store::Unavailable { .. }) | Error::ObjectsUnavailable(_) => {
                StatusReason::ServiceUnavailable
            }
            Error::Store(Store::Timeout { .. }) => StatusReason::Timeout,
            Error::Store(Store::Query { error_type, .. }) if error_type == "timeout" => {
                StatusReason::Timeout
            }
            Error::Store(Store::BadResponse { .. }) => StatusReason::BadGateway,
            Error::Store(Store::Query { .. } | Store::Config(_))
            | Error::Read { .. }
            | Error::Yaml { .. }
            | Error::Regex { .. }
            | Error::Template { .. }
            | Error::Invalid { .. }
            | Error::UnmappedResource { .. }
            | Error::Tls { .. }
            | Error::AuthenticationConfig { .. } => StatusReason::InternalError,
        }
    }
}

/// The result type of the adapter library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
