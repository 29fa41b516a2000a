//! Authorization of metric requests by SubjectAccessReview, per metric, as an aggregated API
//! server delegating to kube-apiserver does it.
//!
//! [`attributes`] turns a request into the resource attributes kube-apiserver's request info
//! (as resolved by custom-metrics-apiserver) gives it:
//!
//! - custom metrics, one object: verb `get`, group `custom.metrics.k8s.io`, the namespace, the
//!   resource (`pods`), the object name, and the metric as subresource;
//! - custom metrics, `*` (many objects): verb `list`, no name;
//! - a namespace's own metric (`namespaces/{ns}/metrics/{metric}`): resource `namespaces`,
//!   name and namespace `{ns}`, subresource the metric;
//! - external metrics: verb `list`, group `external.metrics.k8s.io`, the namespace, and the
//!   metric as resource.
//!
//! - `/metrics` (the adapter's own metrics): a non-resource request, verb `get`, path
//!   `/metrics`, as kube-apiserver reviews its own `/metrics` (grant it with a ClusterRole rule
//!   `nonResourceURLs: ["/metrics"]`, `verbs: ["get"]`).
//!
//! Discovery, OpenAPI and every other path are not reviewed (kube-apiserver lets every
//! authenticated user read discovery through `system:discovery`).
//!
//! [`Authorizer`] posts one `authorization.k8s.io/v1` SubjectAccessReview per distinct
//! (user, groups, extra, attributes) and caches the decision for [`ALLOWED_TTL`] /
//! [`DENIED_TTL`], at most [`CACHE_CAPACITY`] entries. A review is retried and bounded in time
//! as [`crate::review`] says; one that still fails fails closed: [`Error::AuthorizerFailed`]
//! (500, as kube-apiserver answers authorizer errors), and is not cached. Requests arriving
//! while the review of their key is under way wait for it ([`crate::single_flight`]), so a
//! decision that expires under load costs one review, not one per request in flight.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Api;

use crate::auth::UserInfo;
use crate::cache::ExpiringCache;
use crate::review::{self, ReviewPolicy};
use crate::single_flight::SingleFlight;
use crate::{Error, Result};

/// How long an allowed decision is reused.
pub const ALLOWED_TTL: Duration = Duration::from_secs(10);

/// How long a denied decision is reused.
pub const DENIED_TTL: Duration = Duration::from_secs(10);

/// The most decisions kept; when full, the least recently used goes.
pub const CACHE_CAPACITY: usize = 10_000;

/// The longest request path served: far beyond any metric request (names and namespaces are
/// at most 253 bytes), short enough that the decisions cached per path stay small.
pub const MAX_PATH_LENGTH: usize = 2048;

/// The custom metrics API group.
const CUSTOM: &str = "custom.metrics.k8s.io";
/// The external metrics API group.
const EXTERNAL: &str = "external.metrics.k8s.io";

/// The resource attributes of one metric request, as a SubjectAccessReview carries them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attributes {
    /// `get` for one object, `list` for `*` and external metrics.
    pub verb: String,
    /// `custom.metrics.k8s.io` or `external.metrics.k8s.io`.
    pub group: String,
    /// The API version (`v1beta1`, `v1beta2`).
    pub version: String,
    /// The namespace; empty for root-scoped objects.
    pub namespace: String,
    /// The resource (`pods`), or the metric for external metrics.
    pub resource: String,
    /// The object name; empty for `*`.
    pub name: String,
    /// The metric for custom metrics; empty for external metrics.
    pub subresource: String,
    /// A non-resource path (`/metrics`): then only `verb` is set besides it, and the review
    /// carries `nonResourceAttributes`, as kube-apiserver reviews its own `/metrics`.
    pub path: String,
}

impl Attributes {
    /// `resource/subresource` (or `resource`), as RBAC rules name it.
    pub fn full_resource(&self) -> String {
        if !self.path.is_empty() {
            self.path.clone()
        } else if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// The request path `raw` (as sent, without query) percent-decoded segment by segment, as
/// kube-apiserver reads a request's path before it resolves its request info. The router
/// decodes its path parameters too, so authorization and routing see the same segments: a
/// segment that decodes to something with a `/` in it (`namespaces%2Fns2`), which one would
/// split and the other not, is refused, as is an encoding that is not UTF-8.
pub fn decoded_path(raw: &str) -> Result<Cow<'_, str>> {
    if raw.len() > MAX_PATH_LENGTH {
        return Err(Error::MalformedPath {
            path: format!("{}…", raw.chars().take(64).collect::<String>()),
            reason: format!("longer than {MAX_PATH_LENGTH} bytes"),
        });
    }
    let malformed = |reason: &str| Error::MalformedPath {
        path: raw.to_owned(),
        reason: reason.to_owned(),
    };
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    let mut decoded = String::with_capacity(raw.len());
    for (index, segment) in raw.split('/').enumerate() {
        if index > 0 {
            decoded.push('/');
        }
        let segment = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| malformed("a percent-encoding is not UTF-8"))?;
        if segment.contains('/') {
            return Err(malformed("an encoded / inside a path segment"));
        }
        decoded.push_str(&segment);
    }
    Ok(Cow::Owned(decoded))
}

/// The attributes of a metric request at `path` (decoded by [`decoded_path`], without query),
/// or `None` when the path is not a metric request (discovery, OpenAPI, health, anything
/// unknown).
pub fn attributes(path: &str) -> Option<Attributes> {
    let parts = parts(path)?;
    Some(Attributes {
        verb: parts.verb.to_owned(),
        group: parts.group.to_owned(),
        version: parts.version.to_owned(),
        namespace: parts.namespace.to_owned(),
        resource: parts.resource.to_owned(),
        name: parts.name.to_owned(),
        subresource: parts.subresource.to_owned(),
        path: parts.path.to_owned(),
    })
}

/// Whether `path` (decoded, without query) is a metric request, as [`attributes`] tells, without
/// building them.
pub fn is_metric_request(path: &str) -> bool {
    parts(path).is_some()
}

/// [`Attributes`], borrowed from the path.
struct Parts<'a> {
    verb: &'static str,
    group: &'static str,
    version: &'a str,
    namespace: &'a str,
    resource: &'a str,
    name: &'a str,
    subresource: &'a str,
    path: &'static str,
}

/// The longest metric path has eight segments.
const MAX_SEGMENTS: usize = 8;

fn parts(path: &str) -> Option<Parts<'_>> {
    let mut segments = [""; MAX_SEGMENTS];
    let mut count = 0;
    for segment in path.trim_start_matches('/').split('/') {
        if segment.is_empty() || count == MAX_SEGMENTS {
            return None;
        }
        segments[count] = segment;
        count += 1;
    }
    let make = |verb, group, version, namespace, resource, name| Parts {
        verb,
        group,
        version,
        namespace,
        resource,
        name,
        subresource: "",
        path: "",
    };
    let object = |ns, resource, name, metric, version| {
        let (verb, name, ns) = if name == "*" {
            ("list", "", if resource == "namespaces" { "" } else { ns })
        } else {
            ("get", name, ns)
        };
        Parts {
            subresource: metric,
            ..make(verb, CUSTOM, version, ns, resource, name)
        }
    };
    match &segments[..count] {
        [
            "apis",
            CUSTOM,
            version,
            "namespaces",
            name,
            "metrics",
            metric,
        ] => Some(object(name, "namespaces", name, metric, version)),
        [
            "apis",
            CUSTOM,
            version,
            "namespaces",
            ns,
            resource,
            name,
            metric,
        ] => Some(object(ns, resource, name, metric, version)),
        ["apis", CUSTOM, version, resource, name, metric] => {
            Some(object("", resource, name, metric, version))
        }
        ["apis", EXTERNAL, version, "namespaces", ns, metric] => {
            Some(make("list", EXTERNAL, version, ns, metric, ""))
        }
        ["metrics"] => Some(Parts {
            path: "/metrics",
            ..make("get", "", "", "", "", "")
        }),
        _ => None,
    }
}

/// Whether `path` (decoded) lies below a metrics API version (`/apis/<group>/<version>/…`),
/// where only metric requests are served: one whose [`attributes`] are `None` there (an empty
/// segment, an unknown shape) is refused rather than let through unreviewed, whatever the
/// router would make of it.
pub fn below_metrics_version(path: &str) -> bool {
    let mut segments = path.trim_start_matches('/').split('/');
    segments.next() == Some("apis")
        && matches!(segments.next(), Some(CUSTOM | EXTERNAL))
        && segments.next().is_some()
        && segments.next().is_some()
}

/// What the cache is keyed by: who asks, and what for.
type Key = (
    String,
    Option<String>,
    Vec<String>,
    Vec<(String, Vec<String>)>,
    Attributes,
);

/// A SubjectAccessReview decision: allowed, or denied with the authorizer's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Allowed,
    Denied(String),
}

/// Reviews metric requests with SubjectAccessReviews and caches the decisions.
pub struct Authorizer {
    api: Api<SubjectAccessReview>,
    cache: Arc<ExpiringCache<Key, Decision>>,
    reviewing: SingleFlight<Key, Decision>,
    policy: ReviewPolicy,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer").finish_non_exhaustive()
    }
}

/// The SubjectAccessReview asking whether `user` may do what `attributes` describe.
pub fn review(user: &UserInfo, attributes: &Attributes) -> SubjectAccessReview {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.name.clone()),
            groups: Some(user.groups.clone()),
            extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
            uid: user.uid.clone(),
            non_resource_attributes: (!attributes.path.is_empty()).then(|| NonResourceAttributes {
                path: some(&attributes.path),
                verb: some(&attributes.verb),
            }),
            resource_attributes: attributes.path.is_empty().then(|| ResourceAttributes {
                verb: some(&attributes.verb),
                group: Some(attributes.group.clone()),
                version: some(&attributes.version),
                namespace: some(&attributes.namespace),
                resource: some(&attributes.resource),
                name: some(&attributes.name),
                subresource: some(&attributes.subresource),
                ..ResourceAttributes::default()
            }),
        },
        ..SubjectAccessReview::default()
    }
}

impl Authorizer {
    /// An authorizer posting its reviews through `client`.
    pub fn new(client: kube::Client) -> Self {
        Authorizer {
            api: Api::all(client),
            cache: Arc::new(ExpiringCache::new(CACHE_CAPACITY)),
            reviewing: SingleFlight::default(),
            policy: ReviewPolicy::default(),
        }
    }

    /// Posts reviews under `policy` instead of k8s.io/apiserver's ([`ReviewPolicy::default`]).
    pub fn with_review_policy(mut self, policy: ReviewPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Ok when `user` may make the request `attributes` describe; a 403
    /// [`Error::Forbidden`] when denied; a 500 [`Error::AuthorizerFailed`] when the review
    /// could not be made (fail closed).
    pub async fn authorize(&self, user: &UserInfo, attributes: &Attributes) -> Result<()> {
        let key: Key = (
            user.name.clone(),
            user.uid.clone(),
            user.groups.clone(),
            user.extra
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            attributes.clone(),
        );
        let decision = match self.cache.get(&key) {
            Some(decision) => decision,
            None => self
                .reviewing
                .run(&key, || {
                    let (api, policy) = (self.api.clone(), self.policy);
                    let (cache, review) = (Arc::clone(&self.cache), review(user, attributes));
                    let key = key.clone();
                    async move {
                        let decision = ask(&api, &review, policy).await?;
                        remember(&cache, key, decision.clone());
                        Ok(decision)
                    }
                })
                .await
                .map_err(Error::AuthorizerFailed)?,
        };
        match decision {
            Decision::Allowed => Ok(()),
            Decision::Denied(reason) => Err(Error::Forbidden {
                user: user.name.clone(),
                attributes: Box::new(attributes.clone()),
                reason,
            }),
        }
    }
}

/// Posts `review`; an error says why it could not be made.
async fn ask(
    api: &Api<SubjectAccessReview>,
    review: &SubjectAccessReview,
    policy: ReviewPolicy,
) -> std::result::Result<Decision, String> {
    let answer = review::create(api, review, policy).await?;
    let status = answer.status.unwrap_or_default();
    Ok(if status.allowed && !status.denied.unwrap_or(false) {
        Decision::Allowed
    } else {
        let reason = [status.reason, status.evaluation_error]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Decision::Denied(reason)
    })
}

/// Caches a decision for its TTL.
fn remember(cache: &ExpiringCache<Key, Decision>, key: Key, decision: Decision) {
    let ttl = match decision {
        Decision::Allowed => ALLOWED_TTL,
        Decision::Denied(_) => DENIED_TTL,
    };
    cache.insert(key, decision, ttl);
}

#[cfg(test)]
mod tests;
