#!/usr/bin/env bash
# Search at scale: generates a synthetic archive (default 1,000,000 entries over
# 10,000 cards) straight into a store, rebuilds the index with `dossier reindex`
# (bulk index rate, memory), and runs the query benchmark (p50/p99 per type).
#   bench/scale.sh [ENTRIES] [CARDS] [RUNS] [DELETES]
set -euo pipefail
N=${1:-1000000}
C=${2:-10000}
RUNS=${3:-200}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin dossier --example gen_archive --example query_bench
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
target/release/examples/gen_archive "$WORK/data" "$N" "$C"
export DOSSIER_STORAGE__DATA_DIR=$WORK/data DOSSIER_INDEX__DIR=$WORK/index
/usr/bin/time -f "reindex: %e s wall, %M KB peak memory" target/release/dossier reindex 2>&1 | tr '\r' '\n' | tail -2
du -sh "$WORK/index" "$WORK/data"
# Twice: the first pass right after the build reads index pages from disk
# (as the first queries after a restart do), the second runs on a warm cache.
for pass in first second; do
  echo "query bench, $pass pass:"
  /usr/bin/time -f "query bench: %M KB peak memory" target/release/examples/query_bench "$WORK/index" "$RUNS"
done

# Permanent deletion at scale, through the API of a running server: each DELETE
# tombstones the entry, rewrites the index segment that held it and truncates
# SQLite's WAL before it answers. DELETES random entries, time per request.
DELETES=${4:-20}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port)
DOSSIER_HTTP__LISTEN=127.0.0.1:$HTTP_PORT DOSSIER_SMTP__LISTEN=127.0.0.1:$(free_port) \
  DOSSIER_HTTP__REQUEST_TIMEOUT_SECS=600 target/release/dossier 2>"$WORK/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
until curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null; do sleep 0.2; done
TOKEN=$(cat "$WORK/data/admin-token")
for _ in $(seq "$DELETES"); do
  id=$(python3 -c "import random; print(random.randint(1, $N))")
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X DELETE \
    -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/api/entries/$id"
done | python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
codes = sorted({r[0] for r in rows})
t = sorted(float(r[1]) * 1000 for r in rows)
print(f"delete entry: {len(t)} requests, status {codes}, p50 {t[len(t)//2]:.0f} ms, max {t[-1]:.0f} ms")
'
du -sh "$WORK/index"
