//! Which series label names which Kubernetes object: `pods` ↔ `pod`, `deployments.apps` ↔
//! `deployment`, with the overrides and template of prometheus-adapter's `resources` setting.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::promql::LabelName;
use crate::{Error, Result};

/// A Kubernetes resource in its group, written `pods` (core group) or `deployments.apps`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    /// The plural, lower-case resource name, e.g. `deployments`.
    pub resource: String,
    /// The API group, empty for the core group.
    pub group: String,
}

/// Plural resource, group and the singular name its series label uses by default.
const WELL_KNOWN: &[(&str, &str, &str)] = &[
    ("pods", "", "pod"),
    ("services", "", "service"),
    ("namespaces", "", "namespace"),
    ("nodes", "", "node"),
    ("persistentvolumeclaims", "", "persistentvolumeclaim"),
    ("replicationcontrollers", "", "replicationcontroller"),
    ("deployments", "apps", "deployment"),
    ("statefulsets", "apps", "statefulset"),
    ("daemonsets", "apps", "daemonset"),
    ("replicasets", "apps", "replicaset"),
    ("jobs", "batch", "job"),
    ("cronjobs", "batch", "cronjob"),
    ("ingresses", "networking.k8s.io", "ingress"),
    (
        "horizontalpodautoscalers",
        "autoscaling",
        "horizontalpodautoscaler",
    ),
];

impl GroupResource {
    /// A resource in a group (`""` for the core group).
    pub fn new(resource: impl Into<String>, group: impl Into<String>) -> Self {
        GroupResource {
            resource: resource.into(),
            group: group.into(),
        }
    }

    /// Parses `resource` or `resource.group`, as the API paths and `kubectl` write them.
    pub fn parse(input: &str) -> Result<Self> {
        let (resource, group) = match input.split_once('.') {
            Some((resource, group)) => (resource, Some(group)),
            None => (input, None),
        };
        let is_dns_label = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !is_dns_label(resource) || !group.is_none_or(|g| g.split('.').all(is_dns_label)) {
            return Err(Error::Resource {
                input: input.to_owned(),
                reason:
                    "expected `resource` or `resource.group` in lower-case letters, digits and '-'"
                        .to_owned(),
            });
        }
        Ok(GroupResource::new(resource, group.unwrap_or_default()))
    }

    /// The singular name: from the table of well-known resources, else by English plural rules.
    pub fn singular(&self) -> String {
        if let Some((_, _, singular)) = WELL_KNOWN
            .iter()
            .find(|(r, g, _)| *r == self.resource && *g == self.group)
        {
            return (*singular).to_owned();
        }
        let resource = self.resource.as_str();
        if let Some(stem) = resource.strip_suffix("ies") {
            format!("{stem}y")
        } else if let Some(stem) = ["sses", "xes", "zes", "ches", "shes"]
            .iter()
            .find_map(|end| {
                resource
                    .strip_suffix(end)
                    .map(|stem| format!("{stem}{}", &end[..end.len() - 2]))
            })
        {
            stem
        } else {
            resource.strip_suffix('s').unwrap_or(resource).to_owned()
        }
    }

    /// The resource of objects of `kind` in `group` (`Service` → `services`), as the metrics
    /// APIs name it, for callers that hold a kind rather than a resource.
    pub fn for_kind(kind: &str, group: &str) -> Self {
        GroupResource::from_singular(&kind.to_ascii_lowercase(), group)
    }

    /// The resource whose singular name is `singular`, within `group`.
    fn from_singular(singular: &str, group: &str) -> Self {
        if let Some((resource, _, _)) = WELL_KNOWN
            .iter()
            .find(|(_, g, s)| *s == singular && *g == group)
        {
            return GroupResource::new(*resource, group);
        }
        let consonant_y = singular
            .strip_suffix('y')
            .filter(|stem| !stem.ends_with(['a', 'e', 'i', 'o', 'u']));
        let plural = if let Some(stem) = consonant_y {
            format!("{stem}ies")
        } else if ["s", "x", "z", "ch", "sh"]
            .iter()
            .any(|end| singular.ends_with(end))
        {
            format!("{singular}es")
        } else {
            format!("{singular}s")
        };
        GroupResource::new(plural, group)
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group.as_str() {
            "" => f.write_str(&self.resource),
            group => write!(f, "{}.{group}", self.resource),
        }
    }
}

impl FromStr for GroupResource {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        GroupResource::parse(s)
    }
}

impl Serialize for GroupResource {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GroupResource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        GroupResource::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A label naming template such as `kube_<<.Group>>_<<.Resource>>` (prometheus-adapter's
/// `resources.template`); `<<.Resource>>` is the singular resource name, and a group's dots
/// and dashes become underscores (so the reverse mapping reads underscores back as dots).
#[derive(Debug, Clone)]
pub struct LabelTemplate {
    template: String,
    reverse: Regex,
}

impl LabelTemplate {
    /// Checks the template: only `<<.Group>>` and `<<.Resource>>` are known, and it must name
    /// the resource.
    pub fn new(template: &str) -> Result<Self> {
        let error = |reason: &str| Error::Resource {
            input: template.to_owned(),
            reason: reason.to_owned(),
        };
        if !template.contains("<<.Resource>>") {
            return Err(error("the template must contain <<.Resource>>"));
        }
        let stripped = template
            .replace("<<.Resource>>", "")
            .replace("<<.Group>>", "");
        if stripped.contains("<<") || stripped.contains(">>") {
            return Err(error(
                "only <<.Group>> and <<.Resource>> may appear in a resource template",
            ));
        }
        let mut pattern = String::from("^");
        for (index, piece) in template.split("<<.Resource>>").enumerate() {
            if index > 0 {
                pattern.push_str("(?P<resource>[a-z0-9]+)");
            }
            let groups: Vec<String> = piece.split("<<.Group>>").map(regex::escape).collect();
            pattern.push_str(&groups.join("(?P<group>[a-z0-9_]*)"));
        }
        pattern.push('$');
        let reverse = Regex::new(&pattern).map_err(|e| error(&e.to_string()))?;
        Ok(LabelTemplate {
            template: template.to_owned(),
            reverse,
        })
    }

    fn render(&self, resource: &GroupResource) -> String {
        self.template
            .replace("<<.Group>>", &resource.group.replace(['.', '-'], "_"))
            .replace("<<.Resource>>", &resource.singular())
    }

    fn parse(&self, label: &str) -> Option<GroupResource> {
        let captures = self.reverse.captures(label)?;
        let singular = captures.name("resource")?.as_str();
        let group = captures
            .name("group")
            .map_or("", |g| g.as_str())
            .replace('_', ".");
        Some(GroupResource::from_singular(singular, &group))
    }
}

/// How series labels associate with Kubernetes objects for one rule.
///
/// Overrides win; then the template, if any; with neither, the well-known singular names
/// (`namespace`, `pod`, `service`, `deployment`, …) are used, which is what the default rules
/// need.
#[derive(Debug, Clone, Default)]
pub struct ResourceAssociation {
    overrides: BTreeMap<LabelName, GroupResource>,
    template: Option<LabelTemplate>,
}

impl ResourceAssociation {
    /// The association by well-known singular names only.
    pub fn well_known() -> Self {
        ResourceAssociation::default()
    }

    /// Maps `label` to `resource`, whatever the template says.
    pub fn with_override(mut self, label: LabelName, resource: GroupResource) -> Self {
        self.overrides.insert(label, resource);
        self
    }

    /// Derives labels from a template for resources without an override.
    pub fn with_template(mut self, template: LabelTemplate) -> Self {
        self.template = Some(template);
        self
    }

    /// The series label that carries the name of `resource` objects.
    pub fn label_for(&self, resource: &GroupResource) -> Option<LabelName> {
        if let Some((label, _)) = self.overrides.iter().find(|(_, r)| *r == resource) {
            return Some(label.clone());
        }
        let name = match &self.template {
            Some(template) => template.render(resource),
            None => resource.singular(),
        };
        LabelName::new(name).ok()
    }

    /// The resource whose objects a series label names, if the label names any.
    pub fn resource_for(&self, label: &LabelName) -> Option<GroupResource> {
        if let Some(resource) = self.overrides.get(label) {
            return Some(resource.clone());
        }
        match &self.template {
            Some(template) => template.parse(label.as_str()),
            None => WELL_KNOWN
                .iter()
                .find(|(_, _, singular)| *singular == label.as_str())
                .map(|(resource, group, _)| GroupResource::new(*resource, *group)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(name: &str) -> LabelName {
        LabelName::new(name).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_and_prints_group_resources() -> Result<()> {
        assert_eq!(
            GroupResource::parse("pods")?,
            GroupResource::new("pods", "")
        );
        assert_eq!(
            GroupResource::parse("deployments.apps")?.to_string(),
            "deployments.apps"
        );
        assert_eq!(
            GroupResource::parse("ingresses.networking.k8s.io")?.group,
            "networking.k8s.io"
        );
        for bad in ["", "Pods", "pods.", "a b", ".apps", "pods..x"] {
            assert!(GroupResource::parse(bad).is_err(), "{bad:?}");
        }
        Ok(())
    }

    #[test]
    fn well_known_association_maps_both_ways() {
        let association = ResourceAssociation::well_known();
        let deployments = GroupResource::new("deployments", "apps");
        assert_eq!(
            association.label_for(&GroupResource::new("pods", "")),
            Some(label("pod"))
        );
        assert_eq!(
            association.label_for(&deployments),
            Some(label("deployment"))
        );
        assert_eq!(
            association.resource_for(&label("deployment")),
            Some(deployments)
        );
        assert_eq!(
            association.resource_for(&label("namespace")),
            Some(GroupResource::new("namespaces", ""))
        );
        assert_eq!(
            association.resource_for(&label("job_name")),
            None,
            "job/instance labels never name objects"
        );
        assert_eq!(association.resource_for(&label("instance")), None);
    }

    #[test]
    fn overrides_win_over_templates() -> Result<()> {
        let association = ResourceAssociation::well_known()
            .with_template(LabelTemplate::new("kube_<<.Group>>_<<.Resource>>")?)
            .with_override(
                label("exported_namespace"),
                GroupResource::new("namespaces", ""),
            );
        let deployments = GroupResource::new("deployments", "apps");
        assert_eq!(
            association.label_for(&deployments),
            Some(label("kube_apps_deployment"))
        );
        assert_eq!(
            association.resource_for(&label("kube_apps_deployment")),
            Some(deployments)
        );
        assert_eq!(
            association.resource_for(&label("kube__pod")),
            Some(GroupResource::new("pods", ""))
        );
        assert_eq!(
            association.label_for(&GroupResource::new("namespaces", "")),
            Some(label("exported_namespace"))
        );
        assert_eq!(
            association.resource_for(&label("pod")),
            None,
            "the template decides, not the defaults"
        );
        Ok(())
    }

    #[test]
    fn singular_and_plural_follow_english_rules_for_unknown_resources() {
        assert_eq!(
            GroupResource::new("networkpolicies", "networking.k8s.io").singular(),
            "networkpolicy"
        );
        assert_eq!(
            GroupResource::new("widgets", "example.com").singular(),
            "widget"
        );
        assert_eq!(
            GroupResource::from_singular("policy", "x.io"),
            GroupResource::new("policies", "x.io")
        );
        assert_eq!(
            GroupResource::from_singular("gateway", "x.io").resource,
            "gateways"
        );
        assert_eq!(
            GroupResource::from_singular("box", "x.io").resource,
            "boxes"
        );
        assert_eq!(GroupResource::new("gateways", "x.io").singular(), "gateway");
        assert_eq!(GroupResource::new("boxes", "x.io").singular(), "box");
        assert_eq!(GroupResource::new("patches", "x.io").singular(), "patch");
    }

    #[test]
    fn rejects_templates_without_a_resource_or_with_unknown_fields() {
        assert!(LabelTemplate::new("kube_<<.Group>>").is_err());
        assert!(LabelTemplate::new("<<.Namespace>>_<<.Resource>>").is_err());
    }
}
