#!/usr/bin/env bash
# End-to-end check of sextant-adapter on a real cluster (kind or k3d, chosen by KUBECONFIG):
# the adapter deployed from deploy/adapter/ behind its three APIServices, a Prometheus scraping
# podinfo, and a stock autoscaling/v2 HorizontalPodAutoscaler scaling podinfo on the Pods
# metric http_requests_per_second while a load generator calls it.
#
#   KUBECONFIG=~/.kube/kind-config bash tests/e2e/adapter.sh
#
# Exits 0 with "skipped: …" when no cluster is configured. Needs kubectl, and docker plus kind
# or k3d to build and load the image (or ADAPTER_IMAGE, an image the cluster can pull). The
# serving certificate comes from cert-manager when its CRDs are installed, otherwise from
# deploy/adapter/without-cert-manager.sh (openssl). A Prometheus Service at
# prometheus.monitoring.svc:9090 is used if one exists, else tests/e2e/prometheus.yaml is
# installed. On exit everything the script created is deleted (KEEP=1 leaves it in place).
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

NAMESPACE=sextant
APP_NAMESPACE=sextant-e2e
APISERVICES=(v1beta2.custom.metrics.k8s.io v1beta1.custom.metrics.k8s.io
    v1beta1.external.metrics.k8s.io)
METRIC_PATH="/apis/custom.metrics.k8s.io/v1beta2/namespaces/$APP_NAMESPACE/pods/*/http_requests_per_second"

# The overlays live under target/ (ignored by git), beside deploy/ rather than inside it:
# kustomize refuses absolute paths and overlays inside their base.
mkdir -p target
work=$(mktemp -d target/e2e-adapter.XXXXXX)
created_sextant=""
created_monitoring=""
installed_prometheus=""
adapter_applied=""

cleanup() {
    local status=$?
    if [[ "${KEEP:-}" == 1 ]]; then
        echo "KEEP=1: leaving the adapter, the app ($APP_NAMESPACE) and Prometheus in place"
        rm -rf "$work"
        return
    fi
    step "cleaning up"
    # The app first, while the adapter still answers: deleting a namespace waits for every
    # aggregated API to be discoverable.
    kubectl delete namespace "$APP_NAMESPACE" --ignore-not-found --timeout=120s || true
    if [[ -n "$adapter_applied" ]]; then
        # The APIServices before the adapter, so the aggregator never points at nothing.
        kubectl delete apiservice "${APISERVICES[@]}" --ignore-not-found || true
        kubectl delete -f "$work/adapter.yaml" --ignore-not-found --wait=false || true
        # Written by cert-manager or without-cert-manager.sh, not by the manifests.
        kubectl -n "$NAMESPACE" delete secret \
            -l app.kubernetes.io/name=sextant-adapter --ignore-not-found || true
    fi
    if [[ -n "$created_sextant" ]]; then
        kubectl delete namespace "$NAMESPACE" --ignore-not-found --wait=false || true
    fi
    if [[ -n "$installed_prometheus" ]]; then
        kubectl delete -f tests/e2e/prometheus.yaml --ignore-not-found --wait=false || true
    fi
    if [[ -n "$created_monitoring" ]]; then
        kubectl delete namespace monitoring --ignore-not-found --wait=false || true
    fi
    rm -rf "$work"
    return "$status"
}
trap cleanup EXIT

# adapter_diagnostics: what an operator would look at when the adapter does not serve.
adapter_diagnostics() {
    {
        echo "--- kubectl -n $NAMESPACE get pods,endpoints"
        kubectl -n "$NAMESPACE" get pods,endpoints -l app.kubernetes.io/name=sextant-adapter \
            -o wide || true
        echo "--- APIServices"
        kubectl get apiservice "${APISERVICES[@]}" || true
        echo "--- sextant-adapter logs (last 40 lines)"
        kubectl -n "$NAMESPACE" logs deployment/sextant-adapter --tail=40 || true
    } >&2
}

step "the image"
image=${ADAPTER_IMAGE:-}
if [[ -z "$image" ]]; then
    image=sextant-adapter:e2e
    command -v docker >/dev/null ||
        fail "docker is needed to build $image (or set ADAPTER_IMAGE to an image the cluster can pull)"
    docker build -f deploy/Dockerfile --target adapter -t "$image" .
    context=$(kubectl config current-context)
    case "$context" in
        kind-*) kind load docker-image "$image" --name "${context#kind-}" ;;
        k3d-*) k3d image import "$image" --cluster "${context#k3d-}" ;;
        *) fail "cannot load a local image into context $context; push one and set ADAPTER_IMAGE" ;;
    esac
fi
# kustomize's images entry: name and tag (or digest) apart.
last=${image##*/}
if [[ "$image" == *@* ]]; then
    image_entry="newName: ${image%@*}
    digest: ${image#*@}"
elif [[ "$last" == *:* ]]; then
    image_entry="newName: ${image%:*}
    newTag: ${last##*:}"
else
    image_entry="newName: $image"
fi
echo "using $image"

step "Prometheus at prometheus.monitoring.svc:9090"
if kubectl -n monitoring get service prometheus >/dev/null 2>&1; then
    echo "using the existing Service monitoring/prometheus; it must scrape pods annotated" \
        "prometheus.io/scrape with namespace and pod labels (see tests/e2e/prometheus.yaml)"
else
    if ! kubectl get namespace monitoring >/dev/null 2>&1; then
        kubectl create namespace monitoring
        created_monitoring=yes
    fi
    installed_prometheus=yes
    kubectl apply -f tests/e2e/prometheus.yaml
    kubectl -n monitoring rollout status deployment/prometheus --timeout=180s ||
        fail "Prometheus did not become ready within 3 minutes (image pull from quay.io?)"
fi

step "sextant-adapter"
if ! kubectl get namespace "$NAMESPACE" >/dev/null 2>&1; then
    created_sextant=yes
fi
kubectl apply -f deploy/namespace.yaml
if kubectl get crd certificates.cert-manager.io >/dev/null 2>&1; then
    cert_manager=yes
    components=""
    echo "cert-manager is installed: it issues the serving certificate and injects the CA"
else
    cert_manager=""
    components="components:
  - ../../../deploy/adapter/without-cert-manager"
    echo "no cert-manager: deploy/adapter/without-cert-manager.sh makes the certificate"
fi
mkdir -p "$work/adapter"
cat >"$work/adapter/kustomization.yaml" <<EOF
resources:
  - ../../../deploy/adapter
$components
images:
  - name: sextant-adapter
    $image_entry
EOF
kubectl kustomize "$work/adapter" >"$work/adapter.yaml"
adapter_applied=yes
# cert-manager's webhook may still be starting: retry the apply for a minute.
applied=""
for _ in $(seq 12); do
    if kubectl apply -f "$work/adapter.yaml"; then
        applied=yes
        break
    fi
    sleep 5
done
[[ -n "$applied" ]] || fail "kubectl apply of deploy/adapter failed"
if [[ -n "$cert_manager" ]]; then
    kubectl -n "$NAMESPACE" wait --for=condition=Ready certificate/sextant-adapter-serving-cert \
        --timeout=120s || fail "cert-manager did not issue sextant-adapter-serving-cert in 2 minutes"
else
    deploy/adapter/without-cert-manager.sh
fi
if ! kubectl -n "$NAMESPACE" rollout status deployment/sextant-adapter --timeout=180s; then
    adapter_diagnostics
    fail "sextant-adapter did not become ready within 3 minutes (it is ready once a relist of" \
        "Prometheus succeeded)"
fi
for apiservice in "${APISERVICES[@]}"; do
    if ! kubectl wait --for=condition=Available "apiservice/$apiservice" --timeout=120s; then
        kubectl get apiservice "$apiservice" \
            -o 'jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2 || true
        adapter_diagnostics
        fail "APIService $apiservice is not Available (TLS to the Service, or authentication of" \
            "the aggregator's front-proxy certificate: can the adapter read" \
            "kube-system/extension-apiserver-authentication?)"
    fi
done
kubectl get --raw /apis/custom.metrics.k8s.io/v1beta2 >/dev/null ||
    fail "GET /apis/custom.metrics.k8s.io/v1beta2 through the aggregator failed"
echo "ok: the three APIServices are Available"

step "podinfo and a load generator in $APP_NAMESPACE"
mkdir -p "$work/app"
cat >"$work/app/kustomization.yaml" <<'EOF'
# deploy/examples without its ScalingPolicy: the HPA below scales podinfo instead.
resources:
  - ../../../deploy/examples
namespace: sextant-e2e
patches:
  - target:
      kind: ScalingPolicy
    patch: |-
      $patch: delete
      apiVersion: sextant.io/v1alpha1
      kind: ScalingPolicy
      metadata:
        name: any
EOF
kubectl apply -k "$work/app"
kubectl -n "$APP_NAMESPACE" apply -f - <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: load
  labels: {app: load}
spec:
  replicas: 1
  selector:
    matchLabels: {app: load}
  template:
    metadata:
      labels: {app: load}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 65534
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: load
          image: docker.io/library/busybox:1.36
          command: [sh, -c, 'while true; do wget -q -O /dev/null http://podinfo:9898/ || sleep 1; done']
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          resources:
            requests: {cpu: 10m, memory: 8Mi}
            limits: {cpu: 200m, memory: 32Mi}
EOF
kubectl -n "$APP_NAMESPACE" rollout status deployment/podinfo --timeout=180s ||
    fail "podinfo did not become ready within 3 minutes (image pull from ghcr.io?)"
kubectl -n "$APP_NAMESPACE" rollout status deployment/load --timeout=120s ||
    fail "the load generator did not start within 2 minutes"

step "the Pods metric through the aggregator"
# Prometheus scrapes every 10 s and the rule is a rate over 2m: two samples are enough.
served=""
answer=""
deadline=$((SECONDS + 300))
while ((SECONDS < deadline)); do
    if answer=$(kubectl get --raw "$METRIC_PATH" 2>&1) && grep -q '"describedObject"' <<<"$answer"; then
        served=yes
        break
    fi
    sleep 5
done
if [[ -z "$served" ]]; then
    echo "last answer: $answer" >&2
    adapter_diagnostics
    fail "GET $METRIC_PATH returned no items within 5 minutes (is podinfo scraped? try" \
        "http_requests_total{namespace=\"$APP_NAMESPACE\"} in Prometheus)"
fi
echo "$answer" | head -c 600
echo
echo "ok: $METRIC_PATH returns items"

step "the Pods metric with a labelSelector, as the HPA asks for it"
# Answered from the adapter's watch-fed label cache: podinfo's pods, and none for a selector
# that matches no pod.
selected=$(kubectl get --raw "$METRIC_PATH?labelSelector=app%3Dpodinfo" 2>&1) ||
    fail "GET $METRIC_PATH?labelSelector=app=podinfo failed: $selected"
grep -q '"name":"podinfo-' <<<"$selected" ||
    fail "labelSelector=app=podinfo returned no podinfo pod: $selected"
none=$(kubectl get --raw "$METRIC_PATH?labelSelector=app%3Dno-such-app" 2>&1) ||
    fail "GET $METRIC_PATH?labelSelector=app=no-such-app failed: $none"
if grep -q '"describedObject"' <<<"$none"; then
    fail "labelSelector=app=no-such-app returned items: $none"
fi
echo "ok: labelSelector picks podinfo's pods and nothing else"

step "a stock HPA on http_requests_per_second"
kubectl -n "$APP_NAMESPACE" apply -f - <<'EOF'
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: podinfo
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  minReplicas: 1
  maxReplicas: 3
  metrics:
    - type: Pods
      pods:
        metric: {name: http_requests_per_second}
        # The load generator alone sends far more than 5 requests per second.
        target: {type: AverageValue, averageValue: "5"}
EOF
scaled=""
deadline=$((SECONDS + 300))
while ((SECONDS < deadline)); do
    desired=$(kubectl -n "$APP_NAMESPACE" get hpa podinfo \
        -o 'jsonpath={.status.desiredReplicas}' 2>/dev/null || true)
    if [[ "${desired:-0}" -gt 1 ]]; then
        scaled=yes
        break
    fi
    sleep 5
done
conditions=$(kubectl -n "$APP_NAMESPACE" get hpa podinfo \
    -o 'jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' || true)
if [[ -z "$scaled" ]]; then
    echo "$conditions" >&2
    kubectl -n "$APP_NAMESPACE" describe hpa podinfo >&2 || true
    adapter_diagnostics
    fail "the HPA did not scale podinfo above minReplicas (1) within 5 minutes"
fi
kubectl -n "$APP_NAMESPACE" get hpa podinfo
echo "$conditions"
echo "ok: the HPA scaled podinfo to $desired replicas on http_requests_per_second"
