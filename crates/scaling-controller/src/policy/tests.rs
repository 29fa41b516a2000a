use kube::core::cel::Validator;
use serde_json::{Value, json};

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The example of the product specification, with its elided policies filled in.
const CHECKOUT: &str = r#"
apiVersion: sextant.io/v1alpha1
kind: ScalingPolicy
metadata: {name: checkout, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: checkout}
  minReplicas: 2
  maxReplicas: 40
  metrics:
    - type: Pods
      pods: {metric: {name: http_requests_per_second}, target: {type: AverageValue, averageValue: "50"}}
    - type: Object
      object: {describedObject: {apiVersion: v1, kind: Service, name: checkout},
               metric: {name: http_request_duration_p99_seconds}, target: {type: Value, value: "250m"}}
    - type: External
      external: {query: 'sum(rate(queue_messages_enqueued_total{queue="orders"}[2m]))',
                 target: {type: AverageValue, averageValue: "30"}}
  behavior:
    scaleUp:   {stabilizationWindowSeconds: 0,   selectPolicy: Max, policies: [{type: Percent, value: 100, periodSeconds: 15}]}
    scaleDown: {stabilizationWindowSeconds: 300, selectPolicy: Max, policies: [{type: Pods, value: 4, periodSeconds: 60}], tolerance: "0.05"}
  tolerance: "0.1"
  syncPeriodSeconds: 15
  fallback: {failureThreshold: 3, replicas: 6}
"#;

fn checkout_json() -> Result<Value, yaml_serde::Error> {
    yaml_serde::from_str(CHECKOUT)
}

fn schema() -> Result<Value, Box<dyn std::error::Error>> {
    let crd = ScalingPolicy::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .ok_or("no schema")?;
    Ok(serde_json::to_value(schema)?)
}

/// The CEL messages the API server would answer `kubectl apply` of `object` with.
fn rejections(object: &Value) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    match Validator::new().validate(&schema()?, object, None) {
        Ok(()) => Ok(Vec::new()),
        Err(errors) => Ok(errors.into_iter().map(|e| e.to_string()).collect()),
    }
}

#[test]
fn the_checked_in_crd_is_generated_from_these_types() -> TestResult {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../crds/scalingpolicies.sextant.io.yaml"
    );
    let checked_in = std::fs::read_to_string(path)?;
    assert!(
        checked_in == crd_yaml()?,
        "crds/{CRD_FILE} drifted from the Rust types; regenerate it with \
         `cargo run -q -p scaling-controller -- crdgen > crds/{CRD_FILE}`"
    );
    Ok(())
}

#[test]
fn crd_names_scope_subresources_and_columns() -> TestResult {
    let crd = ScalingPolicy::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("scalingpolicies.sextant.io")
    );
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.short_names, Some(vec!["sp".to_owned()]));
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(
        version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some(),
        "status subresource"
    );
    let columns: Vec<&str> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "Target", "Min", "Max", "Replicas", "Desired", "Metric", "Ready", "Age"
        ]
    );
    let schema = schema()?;
    let explain = &schema["properties"]["spec"]["properties"]["minReplicas"]["description"];
    assert!(
        explain
            .as_str()
            .is_some_and(|d| d.contains("to zero and back")),
        "kubectl explain text: {explain}"
    );
    Ok(())
}

#[test]
fn the_product_example_is_a_valid_policy() -> TestResult {
    let object = checkout_json()?;
    assert_eq!(rejections(&object)?, Vec::<String>::new());
    let policy: ScalingPolicy = serde_json::from_value(object)?;
    assert_eq!(policy.spec.metrics.len(), 3);
    assert_eq!(
        policy.spec.fallback,
        Some(Fallback {
            failure_threshold: 3,
            replicas: 6
        })
    );
    assert_eq!(
        policy.spec.metrics[1]
            .object
            .as_ref()
            .and_then(|o| o.target.value),
        Some(Quantity::from_milli(250))
    );
    Ok(())
}

/// A case name, how to break the example policy, and the message the API server must give.
type BrokenPolicy = (&'static str, fn(&mut Value), &'static str);

#[test]
fn cel_rules_reject_inconsistent_policies_at_apply_time() -> TestResult {
    let cases: [BrokenPolicy; 8] = [
        (
            "min above max",
            |p| p["spec"]["minReplicas"] = json!(50),
            "must not exceed spec.maxReplicas",
        ),
        (
            "scale to zero on Pods alone",
            |p| {
                p["spec"]["minReplicas"] = json!(0);
                p["spec"]["metrics"] = json!([p["spec"]["metrics"][0].clone()]);
            },
            "needs at least one Object or External metric",
        ),
        (
            "fallback above max",
            |p| p["spec"]["fallback"]["replicas"] = json!(41),
            "fallback.replicas must not exceed",
        ),
        (
            "type names a field that is not set",
            |p| p["spec"]["metrics"][0]["type"] = json!("Object"),
            "exactly the field named by type",
        ),
        (
            "two sources in one metric",
            |p| p["spec"]["metrics"][1]["pods"] = p["spec"]["metrics"][0]["pods"].clone(),
            "exactly the field named by type",
        ),
        (
            "Value target without value",
            |p| {
                p["spec"]["metrics"][1]["object"]["target"] =
                    json!({"type": "Value", "averageValue": "1"})
            },
            "value or averageValue",
        ),
        (
            "Pods metric with a Value target",
            |p| p["spec"]["metrics"][0]["pods"]["target"] = json!({"type": "Value", "value": "1"}),
            "needs an AverageValue target",
        ),
        (
            "external with both metric and query",
            |p| p["spec"]["metrics"][2]["external"]["metric"] = json!({"name": "queue_depth"}),
            "exactly one of metric or query",
        ),
    ];
    for (case, break_it, expected) in cases {
        let mut object = checkout_json()?;
        break_it(&mut object);
        let messages = rejections(&object)?;
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{case}: expected {expected:?}, got {messages:?}"
        );
    }
    Ok(())
}
