//! The adapter's TLS: the three APIServices verify the adapter against a CA that cert-manager
//! injects, cert-manager's private CA chain issues the serving certificate, and without
//! cert-manager the Component removes cert-manager's objects while the script writes what the
//! Deployment mounts.

use serde_json::Value;

use crate::adapter::{
    ADAPTER, API_SERVICES, INJECT_CA_FROM, SERVING_CERT, api_services, assert_volumes_exist, base,
    cert_manager, deployment, mount_of, pod_and_container, secret, text,
};
use crate::render::{CertManagerObject, Object, kustomize_with, parse, read_repo_file};
use crate::{NAMESPACE, TestResult};

#[test]
fn the_apiservices_verify_the_adapter_with_an_injected_ca_and_prefer_v1beta2() -> TestResult {
    let Some(objects) = base()? else {
        return Ok(());
    };
    let found = api_services(&objects);
    assert_eq!(found.len(), API_SERVICES.len(), "{found:?}");
    for (name, group, version, priority) in API_SERVICES {
        let api_service = found
            .iter()
            .find(|a| a.metadata.name.as_deref() == Some(name))
            .ok_or(format!("no APIService {name}"))?;
        let spec = api_service.spec.as_ref().ok_or("no spec")?;
        assert_eq!(spec.group.as_deref(), Some(group));
        assert_eq!(spec.version.as_deref(), Some(version));
        assert_eq!(spec.group_priority_minimum, 100);
        assert_eq!(spec.version_priority, priority, "{name}");
        assert_eq!(
            spec.insecure_skip_tls_verify, None,
            "{name}: the aggregator must verify the adapter"
        );
        assert_eq!(spec.ca_bundle, None, "{name}: the caBundle is injected");
        let service = spec.service.as_ref().ok_or("no service")?;
        assert_eq!(
            (
                service.namespace.as_deref(),
                service.name.as_deref(),
                service.port
            ),
            (Some(NAMESPACE), Some(ADAPTER), Some(443)),
            "{name}"
        );
        let inject = api_service
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(INJECT_CA_FROM));
        assert_eq!(
            inject.map(String::as_str),
            Some("sextant/sextant-adapter-serving-cert"),
            "{name}"
        );
    }
    Ok(())
}

#[test]
fn cert_manager_issues_the_serving_certificate_from_a_private_ca() -> TestResult {
    let Some(objects) = base()? else {
        return Ok(());
    };
    for object in &objects {
        if let Object::CertManager(c) = object {
            assert_eq!(c.metadata.namespace.as_deref(), Some(NAMESPACE), "{c:?}");
            if c.kind == "Certificate" {
                assert!(text(&c.spec, "/secretName").is_some(), "{c:?}");
            }
        }
    }
    // Every Certificate's issuer is an Issuer of this namespace.
    let issuer_of = |certificate: &CertManagerObject| {
        let spec = &certificate.spec;
        assert_eq!(
            text(spec, "/issuerRef/kind"),
            Some("Issuer"),
            "{certificate:?}"
        );
        let name = text(spec, "/issuerRef/name").unwrap_or_default();
        cert_manager(&objects, "Issuer", name)
    };

    let serving = cert_manager(&objects, "Certificate", SERVING_CERT)
        .ok_or("no Certificate sextant-adapter-serving-cert")?;
    assert_eq!(text(&serving.spec, "/secretName"), Some(SERVING_CERT));
    let dns_names: Vec<&str> = serving.spec["dnsNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for name in [
        "sextant-adapter.sextant.svc",
        "sextant-adapter.sextant.svc.cluster.local",
    ] {
        assert!(dns_names.contains(&name), "{name} in {dns_names:?}");
    }
    assert_ne!(serving.spec.get("isCA"), Some(&Value::Bool(true)));
    let usages = serving.spec["usages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        usages.is_empty() || usages.contains(&Value::from("server auth")),
        "{usages:?}"
    );

    // serving ← CA Issuer ← CA Certificate ← self-signed Issuer.
    let ca_issuer = issuer_of(serving).ok_or("the serving certificate's Issuer is missing")?;
    let ca_secret = text(&ca_issuer.spec, "/ca/secretName")
        .ok_or("the serving certificate's Issuer is not a CA Issuer")?;
    let ca = objects
        .iter()
        .find_map(|o| match o {
            Object::CertManager(c)
                if c.kind == "Certificate" && text(&c.spec, "/secretName") == Some(ca_secret) =>
            {
                Some(c.as_ref())
            }
            _ => None,
        })
        .ok_or(format!("no Certificate writes the CA Secret {ca_secret}"))?;
    assert_eq!(ca.spec.get("isCA"), Some(&Value::Bool(true)), "{ca:?}");
    let root = issuer_of(ca).ok_or("the CA certificate's Issuer is missing")?;
    assert!(
        root.spec.get("selfSigned").is_some_and(Value::is_object),
        "the CA is self-signed: {root:?}"
    );

    // The Deployment serves the Secret the serving Certificate writes.
    let (pod, container) = pod_and_container(deployment(&objects)?)?;
    assert!(mount_of(pod, container, secret, SERVING_CERT).is_some());
    Ok(())
}

#[test]
fn without_cert_manager_the_component_leaves_tls_to_the_script() -> TestResult {
    let Some(yaml) = kustomize_with(
        "without-cert-manager",
        "resources: ['{root}/deploy']\n\
         components: ['{root}/deploy/adapter/without-cert-manager']\n",
    )?
    else {
        return Ok(());
    };
    let objects = parse(&yaml)?;
    let Some(base) = base()? else {
        return Ok(());
    };
    let cert_manager_objects = base
        .iter()
        .filter(|o| matches!(o, Object::CertManager(_)))
        .count();
    assert_eq!(cert_manager_objects, 4, "two Issuers and two Certificates");
    assert!(
        !objects.iter().any(|o| matches!(o, Object::CertManager(_))),
        "no cert-manager objects without cert-manager"
    );
    assert_eq!(objects.len(), base.len() - cert_manager_objects);
    let found = api_services(&objects);
    assert_eq!(found.len(), API_SERVICES.len());
    for api_service in found {
        let spec = api_service.spec.as_ref().ok_or("no spec")?;
        assert_eq!(spec.insecure_skip_tls_verify, None, "{api_service:?}");
        assert!(
            api_service
                .metadata
                .annotations
                .as_ref()
                .is_none_or(|a| !a.contains_key(INJECT_CA_FROM)),
            "no CA injection without cert-manager: {api_service:?}"
        );
    }

    // The script writes the Secret the Deployment mounts and patches the APIServices the base
    // has; every other volume is rendered.
    let script = read_repo_file("deploy/adapter/without-cert-manager.sh")?;
    assert!(script.contains(&format!("SECRET={SERVING_CERT}")));
    for (name, ..) in API_SERVICES {
        assert!(
            script.contains(name),
            "without-cert-manager.sh patches {name}"
        );
    }
    assert!(script.contains("set -euo pipefail"));
    assert!(!script.contains("insecureSkipTLSVerify\\\":true"));
    let (pod, container) = pod_and_container(deployment(&objects)?)?;
    assert!(mount_of(pod, container, secret, SERVING_CERT).is_some());
    assert_volumes_exist(&objects, pod);
    Ok(())
}
