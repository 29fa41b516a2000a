//! RBAC as the API server evaluates it, over the rendered roles and bindings: which rules a
//! service account gets cluster-wide or in one namespace, and whether they allow a request.

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::render::Object;

/// Whether `rules` let a caller do `verb` on `group`/`resource` ("deployments/scale") without
/// naming an object (a create, a list or watch of everything), with RBAC's matching: exact
/// names, `*`, and `*/subresource`; a rule limited to `resourceNames` does not match.
pub(crate) fn allows(rules: &[PolicyRule], group: &str, resource: &str, verb: &str) -> bool {
    allows_named(rules, group, resource, verb, None)
}

/// As [`allows`], for a request on the object `name`: a get, or a list or watch whose
/// `fieldSelector` is `metadata.name=NAME` (the API server takes that name as the request's
/// resource name, k8s.io/apiserver `RequestInfoFactory`). A rule with `resourceNames` matches
/// only a named request whose name it lists.
pub(crate) fn allows_named(
    rules: &[PolicyRule],
    group: &str,
    resource: &str,
    verb: &str,
    name: Option<&str>,
) -> bool {
    let subresource = resource.split_once('/').map(|(_, sub)| sub);
    rules.iter().any(|rule| {
        let groups = rule.api_groups.as_deref().unwrap_or_default();
        let resources = rule.resources.as_deref().unwrap_or_default();
        let names = rule.resource_names.as_deref().unwrap_or_default();
        groups.iter().any(|g| g == "*" || g == group)
            && rule.verbs.iter().any(|v| v == "*" || v == verb)
            && resources.iter().any(|r| {
                r == "*"
                    || r == resource
                    || subresource.is_some_and(|s| r.strip_prefix("*/") == Some(s))
            })
            && (names.is_empty() || name.is_some_and(|name| names.iter().any(|n| n == name)))
    })
}

fn rule(group: &str, resource: &str, verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(vec![resource.to_owned()]),
        verbs: verbs.iter().map(|&v| v.to_owned()).collect(),
        ..PolicyRule::default()
    }
}

/// The rules of the built-in ClusterRoles the manifests bind, as Kubernetes' bootstrap policy
/// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go) defines them; `None` for any
/// other name.
pub(crate) fn built_in_cluster_role(name: &str) -> Option<Vec<PolicyRule>> {
    match name {
        "system:auth-delegator" => Some(vec![
            rule("authentication.k8s.io", "tokenreviews", &["create"]),
            rule("authorization.k8s.io", "subjectaccessreviews", &["create"]),
        ]),
        _ => None,
    }
}

/// The rules of the built-in Roles the manifests bind, `namespace`/`name`, as Kubernetes'
/// bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/namespace_policy.go,
/// testdata/namespace-roles.yaml) defines them; `None` for any other.
pub(crate) fn built_in_role(namespace: &str, name: &str) -> Option<Vec<PolicyRule>> {
    match (namespace, name) {
        ("kube-system", "extension-apiserver-authentication-reader") => Some(vec![PolicyRule {
            resource_names: Some(vec!["extension-apiserver-authentication".to_owned()]),
            ..rule("", "configmaps", &["get", "list", "watch"])
        }]),
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

/// The rules the ServiceAccount `sa_namespace`/`name` has in `namespace`: its cluster-wide
/// rules ([`cluster_rules_of`]) and those of the RoleBindings in `namespace` that name it, to a
/// Role of that namespace or a ClusterRole, rendered or built in.
pub(crate) fn rules_in(
    objects: &[Object],
    namespace: &str,
    sa_namespace: &str,
    name: &str,
) -> Vec<PolicyRule> {
    let mut rules = cluster_rules_of(objects, sa_namespace, name);
    let bindings = objects.iter().filter_map(|o| match o {
        Object::RoleBinding(binding)
            if binding.metadata.namespace.as_deref() == Some(namespace)
                && binding.subjects.iter().flatten().any(|s| {
                    s.kind == "ServiceAccount"
                        && s.name == name
                        && s.namespace.as_deref() == Some(sa_namespace)
                }) =>
        {
            Some(&binding.role_ref)
        }
        _ => None,
    });
    for role_ref in bindings {
        let rendered = objects.iter().find_map(|o| match o {
            Object::Role(role)
                if role_ref.kind == "Role"
                    && o.name() == role_ref.name
                    && role.metadata.namespace.as_deref() == Some(namespace) =>
            {
                Some(role.rules.clone().unwrap_or_default())
            }
            Object::ClusterRole(role)
                if role_ref.kind == "ClusterRole" && o.name() == role_ref.name =>
            {
                Some(role.rules.clone().unwrap_or_default())
            }
            _ => None,
        });
        let built_in = match role_ref.kind.as_str() {
            "Role" => built_in_role(namespace, &role_ref.name),
            "ClusterRole" => built_in_cluster_role(&role_ref.name),
            _ => None,
        };
        rules.extend(rendered.or(built_in).into_iter().flatten());
    }
    rules
}
