#!/usr/bin/env bash
# Thread wake-ups and system calls per request on the adapter bench's latency path, for the
# adapter and for the two floor proxies: `strace` follows the bench (client, in-process adapter
# and floors share one tokio runtime) through its latency part, and each server connection's
# request cycles (from reading a request to reading the next one on the same connection) are
# counted: `futex` wakes and all traced system calls of the runtime's threads, median per
# cycle. Unlike timings on this machine these hardly move from run to run. The adapter's
# connections are those whose requests go out on the store connection that made the
# adapter's discovery calls (`/api/v1/series`); the others are the floors'. Needs strace and
# python3. Run from anywhere in the repository (about two minutes after the bench's build):
#   bash crates/metrics-adapter/benches/serving-wakes.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
binary=$(cargo bench -p metrics-adapter --bench adapter --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "adapter" and m.get("executable"):
        print(m["executable"])')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The latency part ends about 40 s in (longer under strace); the throughput part after it is cut.
timeout -s INT 75 strace -f -o "$out/trace" \
  -e trace=read,write,recvfrom,sendto,readv,writev,sendmsg,recvmsg,epoll_wait,futex \
  "$binary" --bench >"$out/bench" 2>&1 || true
python3 - "$out/trace" <<'EOF'
import collections, re, statistics, sys

lines = open(sys.argv[1], errors="replace").read().splitlines()
# The runtime's threads: the main thread (the bench's client runs in `block_on`) and the two
# busiest after it (the workers); Prometheus is another process, not traced.
counts = collections.Counter(line.split(None, 1)[0] for line in lines if line)
main = lines[0].split(None, 1)[0]
workers = [tid for tid, _ in counts.most_common() if tid != main][:2]
runtime = {main, *workers}

request = re.compile(r'(\d+) (?:recvfrom|read)\((\d+), "\\27\\3\\3')  # a TLS record read
store_write = re.compile(r'(\d+) writev\((\d+), \[\{iov_base="(?:POST|GET) (/api/v1/\w+)')
adapter_stores, store_of = set(), {}
cycles = collections.defaultdict(list)
open_cycle = {}  # server fd -> (wakes, calls) at its request's read
wakes = calls = 0
reading = None  # the server fd whose request is being answered
for line in lines:
    parts = line.split(None, 2)
    if len(parts) < 2 or parts[0] not in runtime or "resumed>" in parts[1]:
        continue
    calls += 1
    if "FUTEX_WAKE" in line:
        wakes += 1
    if m := store_write.match(line):
        if m.group(3) in ("/api/v1/series", "/api/v1/metadata"):
            adapter_stores.add(m.group(2))
        if reading is not None:
            store_of.setdefault(reading, m.group(2))
        continue
    m = request.match(line)
    if not m or not re.search(r"= (\d{3})$", line) or int(line.rsplit("= ", 1)[1]) > 512:
        continue
    fd = m.group(2)
    if fd in open_cycle:
        w, c = open_cycle[fd]
        cycles[fd].append((wakes - w, calls - c))
    # A cycle spanning requests on other connections (a block boundary) is not counted.
    open_cycle = {fd: (wakes, calls)}
    reading = fd

rows = collections.defaultdict(list)
for fd, cs in cycles.items():
    if len(cs) < 200 or fd not in store_of:
        continue
    rows["adapter" if store_of[fd] in adapter_stores else "floor (store connection %s)" % store_of[fd]] += cs
if not rows:
    sys.exit("no request cycles found: did the bench reach its latency part?")
for who, cs in sorted(rows.items()):
    print("%-30s %5d cycles: futex wakes %s, system calls %s per request (median)" % (
        who, len(cs), statistics.median(w for w, _ in cs), statistics.median(c for _, c in cs)))
EOF
