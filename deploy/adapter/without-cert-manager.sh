#!/usr/bin/env bash
# The adapter's serving certificate without cert-manager: a private CA and a serving
# certificate made with openssl, stored as the Secret sextant/sextant-adapter-serving-cert
# (tls.crt, tls.key, ca.crt), and the CA patched into the caBundle of the three APIServices.
#
#   deploy/adapter/without-cert-manager.sh            # keep a valid certificate, else make one
#   deploy/adapter/without-cert-manager.sh --renew    # make a new CA and certificate now
#
# Run it after applying the manifests without cert-manager's objects (the Component
# deploy/adapter/without-cert-manager; see docs/deploy.md). Uses the current kubectl context
# (or KUBECONFIG); needs openssl ≥ 1.1.1 and kubectl.
#
# Idempotent: while the Secret's certificate is valid for more than 30 more days it is kept and
# only the caBundle is (re)written. Otherwise, or with --renew, a new CA signs a new one-year
# certificate; the CA's key is discarded, the caBundle briefly trusts the old CA and the new one,
# and the adapter is restarted so it serves the new certificate at once (without the restart it
# would pick the files up once the kubelet updates the mounted Secret, within about a minute).
# Run it again within 11 months, e.g. from a CronJob or your deployment pipeline.
set -euo pipefail

NAMESPACE=${SEXTANT_NAMESPACE:-sextant}
SERVICE=sextant-adapter
SECRET=sextant-adapter-serving-cert
APISERVICES=(v1beta2.custom.metrics.k8s.io v1beta1.custom.metrics.k8s.io
    v1beta1.external.metrics.k8s.io)
DAYS=365
RENEW_WITHIN=$((30 * 24 * 3600))

renew=""
case "${1:-}" in
    "") ;;
    --renew) renew=yes ;;
    *)
        echo "usage: $0 [--renew]" >&2
        exit 2
        ;;
esac

for apiservice in "${APISERVICES[@]}"; do
    kubectl get apiservice "$apiservice" >/dev/null || {
        echo "APIService $apiservice not found: apply the manifests first" >&2
        exit 1
    }
    if [[ -n "$(kubectl get apiservice "$apiservice" \
        -o 'jsonpath={.metadata.annotations.cert-manager\.io/inject-ca-from}')" ]]; then
        echo "warning: $apiservice carries cert-manager.io/inject-ca-from; if cert-manager's CA" \
            "injector runs, it will overwrite the caBundle written here" >&2
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# secret_field KEY: the decoded value of the Secret's KEY, empty when absent.
secret_field() {
    kubectl -n "$NAMESPACE" get secret "$SECRET" -o "jsonpath={.data.${1//./\\.}}" 2>/dev/null |
        base64 --decode 2>/dev/null || true
}
secret_field tls.crt >"$work/old-tls.crt"
secret_field ca.crt >"$work/old-ca.crt"

keep=""
if [[ -z "$renew" && -s "$work/old-tls.crt" && -s "$work/old-ca.crt" ]] &&
    openssl x509 -noout -checkend "$RENEW_WITHIN" -in "$work/old-tls.crt" >/dev/null &&
    openssl verify -CAfile "$work/old-ca.crt" "$work/old-tls.crt" >/dev/null 2>&1; then
    keep=yes
fi

if [[ -n "$keep" ]]; then
    echo "keeping $NAMESPACE/$SECRET (valid until" \
        "$(openssl x509 -noout -enddate -in "$work/old-tls.crt" | cut -d= -f2))"
    cp "$work/old-ca.crt" "$work/bundle.crt"
else
    echo "making a new CA and serving certificate for $SERVICE.$NAMESPACE.svc"
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -keyout "$work/ca.key" -out "$work/ca.crt" -days $((DAYS + 30)) \
        -subj "/CN=sextant-adapter-ca" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -keyout "$work/tls.key" -out "$work/tls.csr" \
        -subj "/CN=$SERVICE.$NAMESPACE.svc" 2>/dev/null
    cat >"$work/serving.ext" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:$SERVICE.$NAMESPACE.svc, DNS:$SERVICE.$NAMESPACE.svc.cluster.local
EXT
    openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -days "$DAYS" \
        -extfile "$work/serving.ext" -out "$work/tls.crt" 2>/dev/null
    openssl verify -CAfile "$work/ca.crt" "$work/tls.crt" >/dev/null

    kubectl -n "$NAMESPACE" create secret generic "$SECRET" --type=kubernetes.io/tls \
        --from-file=tls.crt="$work/tls.crt" --from-file=tls.key="$work/tls.key" \
        --from-file=ca.crt="$work/ca.crt" --dry-run=client -o yaml |
        kubectl label --local -f - -o yaml \
            app.kubernetes.io/name=sextant-adapter app.kubernetes.io/part-of=sextant |
        kubectl apply -f -

    # Trust the old CA too until the adapter serves the new certificate; the next run writes
    # the new CA alone.
    cp "$work/ca.crt" "$work/bundle.crt"
    if [[ -s "$work/old-ca.crt" ]]; then
        cat "$work/old-ca.crt" >>"$work/bundle.crt"
    fi
fi

bundle=$(base64 <"$work/bundle.crt" | tr -d '\n')
for apiservice in "${APISERVICES[@]}"; do
    kubectl patch apiservice "$apiservice" --type=merge \
        -p "{\"spec\":{\"caBundle\":\"$bundle\",\"insecureSkipTLSVerify\":false}}"
done

if [[ -z "$keep" ]] && kubectl -n "$NAMESPACE" get deployment "$SERVICE" >/dev/null 2>&1; then
    kubectl -n "$NAMESPACE" rollout restart "deployment/$SERVICE"
fi
