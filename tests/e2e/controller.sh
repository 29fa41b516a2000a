#!/usr/bin/env bash
# End-to-end check of the ScalingPolicy path on a real cluster (kind or k3d, chosen by
# KUBECONFIG): the CRD's schema and CEL rules as the API server applies them, then
# sextant-controller (run locally with cargo) reconciling the example policy until READY shows.
#
#   KUBECONFIG=~/.kube/kind-config bash tests/e2e/controller.sh
#
# Exits 0 with "skipped: …" when no cluster is configured. Leaves the CRD and the example in
# the cluster for inspection; `kubectl delete -k deploy/examples/` removes the example.
# PROMETHEUS_URL (optional) is passed to the controller for the example's External query.
set -euo pipefail
cd "$(dirname "$0")/../.."

skip() {
    echo "skipped: no cluster configured (set KUBECONFIG to a kind or k3d cluster)"
    exit 0
}
[[ -n "${KUBECONFIG:-}" ]] || skip
timeout 10 kubectl cluster-info >/dev/null 2>&1 || skip

step() { printf '\n== %s\n' "$*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

step "the CRD"
kubectl apply -f crds/scalingpolicies.sextant.io.yaml
kubectl wait --for=condition=Established --timeout=60s crd/scalingpolicies.sextant.io
# The schema reaches the OpenAPI document kubectl explain reads a few seconds after Established.
explained=""
for _ in $(seq 30); do
    if kubectl explain scalingpolicy.spec.minReplicas 2>/dev/null | grep -q "to zero and back"; then
        explained=yes
        break
    fi
    sleep 1
done
[[ -n "$explained" ]] ||
    fail "kubectl explain scalingpolicy.spec.minReplicas does not show the field description"
echo "kubectl explain scalingpolicy.spec.minReplicas: ok"

step "invalid ScalingPolicies are rejected at apply time (CEL)"
# expect_rejected NAME MESSAGE SPEC-YAML: applies a policy in the default namespace (server
# dry run, so nothing is stored) and checks the API server refuses it with MESSAGE.
expect_rejected() {
    local name=$1 message=$2 spec=$3 output
    if output=$(kubectl apply --dry-run=server -f - 2>&1 <<EOF
apiVersion: sextant.io/v1alpha1
kind: ScalingPolicy
metadata: {name: e2e-invalid, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: nothing}
$spec
EOF
    ); then
        fail "$name: accepted, expected a rejection with \"$message\""
    fi
    grep -qF -- "$message" <<<"$output" ||
        fail "$name: rejected, but without \"$message\": $output"
    echo "$name: rejected (\"$message\")"
}
expect_rejected "min above max" "spec.minReplicas must not exceed spec.maxReplicas" '
  minReplicas: 5
  maxReplicas: 2
  metrics:
    - type: Pods
      pods: {metric: {name: http_requests_per_second}, target: {type: AverageValue, averageValue: "10"}}'
expect_rejected "Pods metric with a Value target" "a Pods metric needs an AverageValue target" '
  maxReplicas: 5
  metrics:
    - type: Pods
      pods: {metric: {name: http_requests_per_second}, target: {type: Value, value: "10"}}'
expect_rejected "External with both metric and query" "exactly one of metric or query must be set" '
  maxReplicas: 5
  metrics:
    - type: External
      external: {metric: {name: queue_depth}, query: "sum(queue_depth)",
                 target: {type: AverageValue, averageValue: "10"}}'

step "the example app and its ScalingPolicy"
kubectl apply -k deploy/examples/
kubectl -n sextant-demo rollout status deployment/podinfo --timeout=120s ||
    echo "note: podinfo is not ready yet (image pull?); the policy is reconciled regardless"

step "sextant-controller, run locally"
# Compile first, so the two-minute wait below measures the controller, not the compiler.
cargo build -q -p scaling-controller
log=$(mktemp)
# Loopback and ephemeral ports for /metrics and the probes, so nothing on this machine's :8080 or
# :8081 gets in the way.
controller_args=(run --leader-elect=false --kubeconfig "$KUBECONFIG"
    --metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=127.0.0.1:0)
if [[ -n "${PROMETHEUS_URL:-}" ]]; then
    controller_args+=(--prometheus-url "$PROMETHEUS_URL")
fi
# On Unix `cargo run` replaces itself with the binary, so $! is the controller and the trap's
# SIGTERM reaches it directly.
RUST_LOG=${RUST_LOG:-info} cargo run -q -p scaling-controller -- "${controller_args[@]}" >"$log" 2>&1 &
controller=$!
stop_controller() {
    kill "$controller" 2>/dev/null || true
    wait "$controller" 2>/dev/null || true
    rm -f "$log"
}
trap stop_controller EXIT

ready=""
deadline=$((SECONDS + 120))
while ((SECONDS < deadline)); do
    kill -0 "$controller" 2>/dev/null || {
        cat "$log" >&2
        fail "the controller exited"
    }
    ready=$(kubectl -n sextant-demo get sp podinfo \
        -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
    [[ -n "$ready" ]] && break
    sleep 1
done
if [[ -z "$ready" ]]; then
    tail -n 50 "$log" >&2
    fail "no READY value on scalingpolicy sextant-demo/podinfo within 2 minutes"
fi

kubectl -n sextant-demo get sp -o wide
echo
kubectl -n sextant-demo get sp podinfo \
    -o 'jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
echo
echo "ok: the controller reconciled sextant-demo/podinfo (Ready=$ready)"
