#!/usr/bin/env bash
# sextant-adapter on this machine, no cluster: a real Prometheus on loopback (backfilled with
# promtool: three pods' request counters over the last five minutes), the adapter binary over
# HTTPS with a throwaway CA, and `kubectl get --raw` with a client certificate reading the
# per-pod request rates. docs/adapter.md shows its output.
#
#   tests/e2e/local-adapter.sh            # builds the adapter (debug) if needed
#
# Needs: prometheus and promtool (Debian package `prometheus`), kubectl, openssl, cargo.
# Ports: PROMETHEUS_PORT (default 19090) and ADAPTER_PORT (default 16443), loopback only.
set -euo pipefail

cd "$(dirname "$0")/../.."
prometheus_port="${PROMETHEUS_PORT:-19090}"
adapter_port="${ADAPTER_PORT:-16443}"
for tool in prometheus promtool kubectl openssl cargo; do
  command -v "$tool" >/dev/null || { echo "local-adapter.sh: needs $tool on PATH" >&2; exit 1; }
done

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The adapter first, so the samples below are fresh when it reads them.
cargo build --quiet -p metrics-adapter --bin sextant-adapter

# 1. Three pods' counters, a sample every 15 s from five minutes ago to four minutes ahead
#    (OpenMetrics), so rate(…[2m]) is complete whenever within those minutes it is asked.
now="$(date +%s)"
{
  echo "# TYPE http_requests_total counter"
  for spec in "ns1 a 3" "ns1 b 1.5" "ns2 c 5"; do
    read -r namespace pod rate <<<"$spec"
    for i in $(seq 0 36); do
      awk -v ns="$namespace" -v pod="$pod" -v rate="$rate" -v i="$i" -v t="$((now - 300 + i * 15))" \
        'BEGIN { printf "http_requests_total{namespace=\"%s\",pod=\"%s\"} %g %d\n", ns, pod, rate * 15 * i, t }'
    done
  done
  echo "# EOF"
} >"$work/data.om"
mkdir -p "$work/tsdb"
promtool tsdb create-blocks-from openmetrics "$work/data.om" "$work/tsdb" >/dev/null
printf 'global: {}\n' >"$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prometheus_port" --log.level=warn 2>"$work/prometheus.log" &
pids+=("$!")

# 2. A CA, the adapter's serving certificate (127.0.0.1) and a client certificate (CN = user,
#    O = group), as --client-ca-file authenticates them.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=demo-ca" \
  -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
issue() { # name subject extensions
  openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$work/$1.key" -out "$work/$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
    -days 1 -extfile "$work/$1.ext" -out "$work/$1.crt" 2>/dev/null
}
issue serving "/CN=sextant-adapter" "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
issue client "/O=sextant-readers/CN=demo-user" "extendedKeyUsage=clientAuth"

# 3. The adapter: default rules, no Kubernetes connection (an empty kubeconfig), so
#    --authorization-always-allow (it warns).
: >"$work/empty-kubeconfig"
KUBECONFIG="$work/empty-kubeconfig" target/debug/sextant-adapter \
  --secure-port="$adapter_port" --bind-address=127.0.0.1 \
  --tls-cert-file="$work/serving.crt" --tls-private-key-file="$work/serving.key" \
  --client-ca-file="$work/ca.crt" --authorization-always-allow \
  --prometheus-url="http://127.0.0.1:$prometheus_port" 2>"$work/adapter.log" &
pids+=("$!")

get_raw() {
  KUBECONFIG="$work/empty-kubeconfig" kubectl --server "https://127.0.0.1:$adapter_port" \
    --certificate-authority "$work/ca.crt" \
    --client-certificate "$work/client.crt" --client-key "$work/client.key" \
    get --raw "$1"
}

# 4. Ready (the first relist found the metrics) within 30 s.
for _ in $(seq 1 60); do
  get_raw /readyz >/dev/null 2>&1 && break
  sleep 0.5
done
get_raw /readyz >/dev/null || {
  echo "the adapter did not become ready; its log:" >&2
  cat "$work/adapter.log" >&2
  exit 1
}

path='/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns1/pods/*/http_requests_per_second'
echo "\$ kubectl --server https://127.0.0.1:$adapter_port --certificate-authority ca.crt \\"
echo "    --client-certificate client.crt --client-key client.key get --raw '$path'"
answer="$(get_raw "$path")"
if command -v python3 >/dev/null; then
  python3 -m json.tool <<<"$answer"
  # The right values: ns1's pods only, at the rates written above (within 2 %).
  python3 - "$answer" <<'CHECK'
import json, sys
items = json.loads(sys.argv[1])["items"]
def quantity(text):
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
got = {i["describedObject"]["name"]: quantity(i["value"]) for i in items}
want = {"a": 3.0, "b": 1.5}
if got.keys() != want.keys() or any(abs(got[p] - r) > 0.02 * r for p, r in want.items()):
    sys.exit(f"wrong values: {got}, expected {want}")
print(f"values as written: {got}", file=sys.stderr)
CHECK
else
  echo "$answer"
fi
