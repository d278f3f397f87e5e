#!/usr/bin/env bash
# Import benchmark: generates an mbox of N messages and imports it into a fresh
# data dir with `dossier import --card` (parse, unwrap, store, index, durable).
#   bench/import.sh [MESSAGES]
set -euo pipefail
N=${1:-20000}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin dossier
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 bench/gen_mbox.py "$N" "$WORK/big.mbox"
export DOSSIER_STORAGE__DATA_DIR=$WORK/data DOSSIER_INDEX__DIR=$WORK/index DOSSIER_ARCHIVE__TEAM_DOMAINS='["team.example"]'
ID=$(target/release/dossier card create "Import bench" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "mbox: $(du -h "$WORK/big.mbox" | cut -f1), $N messages"
start=$(date +%s.%N)
target/release/dossier import --quiet --card "$ID" "$WORK/big.mbox"
end=$(date +%s.%N)
python3 -c "print(f'import: {$N/($end-$start):.0f} msg/s ({$end-$start:.1f} s)')"
start=$(date +%s.%N)
target/release/dossier import --quiet --card "$ID" "$WORK/big.mbox"
end=$(date +%s.%N)
python3 -c "print(f're-run (all duplicates): {$N/($end-$start):.0f} msg/s ({$end-$start:.1f} s)')"
