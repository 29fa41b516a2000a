#!/usr/bin/env bash
# Copies the API server's front-proxy CA into the ConfigMap sextant/sextant-adapter-front-proxy-ca,
# which the adapter's Deployment mounts for --requestheader-client-ca-file. The aggregator
# authenticates to the adapter with a client certificate signed by that CA; a pod cannot mount
# the original (kube-system/extension-apiserver-authentication, key
# requestheader-client-ca-file) across namespaces, and the adapter does not read it through the
# API yet.
#
#   deploy/adapter/front-proxy-ca.sh        # after `kubectl apply -k deploy/`, uses the
#                                           # current kubectl context (or KUBECONFIG)
#
# Idempotent: run it again after the cluster's front-proxy CA changes; it restarts the adapter
# when the copy changed, since the adapter reads the file at start.
set -euo pipefail

NAMESPACE=${SEXTANT_NAMESPACE:-sextant}
CONFIGMAP=sextant-adapter-front-proxy-ca
KEY=requestheader-client-ca-file

ca=$(kubectl -n kube-system get configmap extension-apiserver-authentication \
    -o "jsonpath={.data.$KEY}")
if [[ -z "$ca" ]]; then
    echo "kube-system/extension-apiserver-authentication has no $KEY: the API server runs" \
        "without --requestheader-client-ca-file, so it cannot proxy to aggregated APIs" >&2
    exit 1
fi
before=$(kubectl -n "$NAMESPACE" get configmap "$CONFIGMAP" \
    -o "jsonpath={.data.$KEY}" 2>/dev/null || true)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%s\n' "$ca" >"$work/$KEY"
kubectl -n "$NAMESPACE" create configmap "$CONFIGMAP" --from-file="$KEY=$work/$KEY" \
    --dry-run=client -o yaml |
    kubectl label --local -f - -o yaml \
        app.kubernetes.io/name=sextant-adapter app.kubernetes.io/part-of=sextant |
    kubectl apply -f -

if [[ -n "$before" && "$before" != "$ca" ]] &&
    kubectl -n "$NAMESPACE" get deployment sextant-adapter >/dev/null 2>&1; then
    echo "the front-proxy CA changed: restarting sextant-adapter"
    kubectl -n "$NAMESPACE" rollout restart deployment/sextant-adapter
fi
