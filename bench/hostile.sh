#!/usr/bin/env bash
# Hostile input benchmark: the server's peak RSS (VmHWM) and the time from an
# ordinary mail's 250 to it being searchable, alone and right behind hostile
# mail (bombs, self-drawing PDF form, 10,000 parts, deep nesting, 24 MB of
# headers), in the same run.
#
#   bench/hostile.sh [ROUNDS]
set -euo pipefail
ROUNDS=${1:-3}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin dossier --example hostile_load
BIN=$PWD/target/release/dossier
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
export DOSSIER_STORAGE__DATA_DIR=$WORK/data DOSSIER_INDEX__DIR=$WORK/index DOSSIER_ARCHIVE__TEAM_DOMAINS='["team.example"]'
export DOSSIER_AUTH__DNS_SERVERS='["127.0.0.1:9"]' DOSSIER_AUTH__DNS_TIMEOUT_MS=100
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=127.0.0.1:$(free_port); SMTP=127.0.0.1:$(free_port)
TOKEN=$($BIN user add bench@team.example --admin | tail -1)
RCPT=$($BIN card create "Hostile" | python3 -c 'import json,sys; print(json.load(sys.stdin)["archive_address"])')
DOSSIER_HTTP__LISTEN=$HTTP DOSSIER_SMTP__LISTEN=$SMTP RUST_LOG=warn $BIN 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://$HTTP/healthz" >/dev/null && break; sleep 0.1; done
target/release/examples/hostile_load "$SMTP" "$HTTP" "$TOKEN" "$RCPT" "$ROUNDS"
# Let the extraction children finish with the bombs, then read the peak.
for _ in $(seq 120); do
  pending=$(curl -s "http://$HTTP/api/cards/1/history?limit=200" -H "Authorization: Bearer $TOKEN" | grep -c '"pending"' || true)
  [ "$pending" = 0 ] && break; sleep 1
done
grep -E 'VmHWM' /proc/$SERVER/status | awk '{printf "server peak RSS (VmHWM)       %.0f MiB\n", $2/1024}'
curl -s "http://$HTTP/api/cards/1/history?limit=200" -H "Authorization: Bearer $TOKEN" \
  | python3 -c 'import json,sys,collections; h=json.load(sys.stdin); c=collections.Counter(d["text_status"] for e in h["entries"] for d in e["attachments"] if d["filename"] in ("bomb.pdf","bomb.docx","form.pdf")); print("bomb documents:", dict(c))'
