#!/usr/bin/env bash
# SMTP ingest benchmark: accepted msg/s and 250->searchable latency for dossier,
# next to the loopback ceiling (Postfix's smtp-source against smtp-sink, which
# accepts and discards without storing anything) measured in the same run.
#
#   bench/run.sh [MESSAGES] [CONNECTIONS] [SIZE_BYTES]
#
# Needs the Debian package `postfix` for smtp-source/smtp-sink (skipped if absent).
set -euo pipefail
N=${1:-5000}
C=${2:-8}
SIZE=${3:-20000}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin dossier --example smtp_load
BIN=target/release/dossier
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; [ -n "${SINK:-}" ] && kill $SINK 2>/dev/null || true; rm -rf "$WORK"' EXIT
export DOSSIER_STORAGE__DATA_DIR=$WORK/data DOSSIER_INDEX__DIR=$WORK/index DOSSIER_ARCHIVE__TEAM_DOMAINS='["team.example"]'
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=127.0.0.1:$(free_port); SMTP=127.0.0.1:$(free_port)
TOKEN=$($BIN user add bench@team.example --admin | tail -1)
RCPT=$($BIN card create "Benchmark" | python3 -c 'import json,sys; print(json.load(sys.stdin)["archive_address"])')
DOSSIER_HTTP__LISTEN=$HTTP DOSSIER_SMTP__LISTEN=$SMTP RUST_LOG=warn $BIN 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://$HTTP/healthz" >/dev/null && break; sleep 0.1; done

echo "== dossier (durable: fsync'd spool + committed queue row before each 250)"
target/release/examples/smtp_load --smtp "$SMTP" --http "$HTTP" --token "$TOKEN" --rcpt "$RCPT" \
  --messages "$N" --connections "$C" --size "$SIZE"

if command -v smtp-source >/dev/null && command -v smtp-sink >/dev/null; then
  echo "== smtp-source -> dossier (same client as the ceiling below)"
  start=$(date +%s.%N)
  smtp-source -s "$C" -m "$N" -l "$SIZE" -f sam@team.example -t "$RCPT" "$SMTP"
  end=$(date +%s.%N)
  python3 -c "print(f'accepted           {$N/($end-$start):.0f} msg/s')"
  echo "== loopback ceiling: smtp-source -> smtp-sink (no storage)"
  SINKPORT=$(free_port)
  smtp-sink -u nobody -c 127.0.0.1:$SINKPORT 256 >/dev/null &
  SINK=$!
  sleep 0.3
  start=$(date +%s.%N)
  smtp-source -s "$C" -m "$N" -l "$SIZE" -f sam@team.example -t sink@example.test "127.0.0.1:$SINKPORT"
  end=$(date +%s.%N)
  python3 -c "print(f'accepted           {$N/($end-$start):.0f} msg/s')"
else
  echo "(install postfix for the smtp-source/smtp-sink loopback ceiling)"
fi
