#!/usr/bin/env bash
# Search at scale: generates a synthetic archive (default 1,000,000 entries over
# 10,000 cards) straight into a store, rebuilds the index with `dossier reindex`
# (bulk index rate, memory), and runs the query benchmark (p50/p99 per type).
#   bench/scale.sh [ENTRIES] [CARDS] [RUNS]
set -euo pipefail
N=${1:-1000000}
C=${2:-10000}
RUNS=${3:-200}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin dossier --example gen_archive --example query_bench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
target/release/examples/gen_archive "$WORK/data" "$N" "$C"
export DOSSIER_STORAGE__DATA_DIR=$WORK/data DOSSIER_INDEX__DIR=$WORK/index
/usr/bin/time -f "reindex: %e s wall, %M KB peak memory" target/release/dossier reindex 2>&1 | tr '\r' '\n' | tail -2
du -sh "$WORK/index" "$WORK/data"
/usr/bin/time -f "query bench: %M KB peak memory" target/release/examples/query_bench "$WORK/index" "$RUNS"
