//! RBAC as the API server evaluates it, over the rendered roles and bindings: which rules a
//! service account gets cluster-wide, and whether they allow a request.

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::render::Object;

/// Whether `rules` let a caller do `verb` on `group`/`resource` ("deployments/scale"), with
/// RBAC's matching: exact names, `*`, and `*/subresource`.
pub(crate) fn allows(rules: &[PolicyRule], group: &str, resource: &str, verb: &str) -> bool {
    let subresource = resource.split_once('/').map(|(_, sub)| sub);
    rules.iter().any(|rule| {
        let groups = rule.api_groups.as_deref().unwrap_or_default();
        let resources = rule.resources.as_deref().unwrap_or_default();
        groups.iter().any(|g| g == "*" || g == group)
            && rule.verbs.iter().any(|v| v == "*" || v == verb)
            && resources.iter().any(|r| {
                r == "*"
                    || r == resource
                    || subresource.is_some_and(|s| r.strip_prefix("*/") == Some(s))
            })
    })
}

fn rule(group: &str, resource: &str, verb: &str) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(vec![resource.to_owned()]),
        verbs: vec![verb.to_owned()],
        ..PolicyRule::default()
    }
}

/// The rules of the built-in ClusterRoles the manifests bind, as Kubernetes' bootstrap policy
/// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go) defines them; `None` for any
/// other name.
pub(crate) fn built_in_cluster_role(name: &str) -> Option<Vec<PolicyRule>> {
    match name {
        "system:auth-delegator" => Some(vec![
            rule("authentication.k8s.io", "tokenreviews", "create"),
            rule("authorization.k8s.io", "subjectaccessreviews", "create"),
        ]),
        _ => None,
    }
}

/// The rules of every ClusterRole bound by a ClusterRoleBinding to the ServiceAccount
/// `namespace`/`name`: the rendered ClusterRoles, and the built-in ones
/// [`built_in_cluster_role`] knows.
pub(crate) fn cluster_rules_of(objects: &[Object], namespace: &str, name: &str) -> Vec<PolicyRule> {
    let bound: Vec<&str> = objects
        .iter()
        .filter_map(|o| match o {
            Object::ClusterRoleBinding(binding) => Some(binding),
            _ => None,
        })
        .filter(|binding| {
            binding.role_ref.kind == "ClusterRole"
                && binding.subjects.iter().flatten().any(|s| {
                    s.kind == "ServiceAccount"
                        && s.name == name
                        && s.namespace.as_deref() == Some(namespace)
                })
        })
        .map(|binding| binding.role_ref.name.as_str())
        .collect();
    let rendered = objects.iter().filter_map(|o| match o {
        Object::ClusterRole(role) if bound.contains(&o.name()) => role.rules.clone(),
        _ => None,
    });
    let built_in = bound.iter().filter_map(|name| built_in_cluster_role(name));
    rendered.chain(built_in).flatten().collect()
}
