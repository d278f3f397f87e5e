#!/usr/bin/env bash
# Sender authentication cost: the same SMTP load (bench/smtp_load.rs) against
# dossier with archive.sender_auth = "off" and = "dmarc" (SPF + DKIM + DMARC
# against a DNS server on loopback, bench/dns_stub.rs), alternating, in one run.
#
#   bench/auth.sh [MESSAGES] [CONNECTIONS] [SIZE_BYTES] [ROUNDS]
#
# Prints each run's accepted msg/s and end-to-end msg/s (250 to searchable),
# then the medians and the dmarc/off ratios.
set -euo pipefail
N=${1:-2000}
C=${2:-8}
SIZE=${3:-20000}
ROUNDS=${4:-3}
cd "$(dirname "$0")/.."
# NO_BUILD=1: the binaries are already built (e.g. under a shared build lock).
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet --bin dossier --example smtp_load --example dns_stub
BIN=target/release/dossier
WORK=$(mktemp -d)
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  [ -n "${DNS:-}" ] && kill "$DNS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

target/release/examples/dns_stub >"$WORK/dns.addr" 2>"$WORK/dns.log" &
DNS=$!
for _ in $(seq 50); do [ -s "$WORK/dns.addr" ] && break; sleep 0.1; done
DNS_ADDR=$(cat "$WORK/dns.addr")

one() { # POLICY ROUND
  local dir="$WORK/$1-$2"
  export DOSSIER_STORAGE__DATA_DIR=$dir/data DOSSIER_INDEX__DIR=$dir/index
  export DOSSIER_ARCHIVE__TEAM_DOMAINS='["team.example"]' DOSSIER_ARCHIVE__SENDER_AUTH=$1
  export DOSSIER_AUTH__DNS_SERVERS="[\"$DNS_ADDR\"]"
  local http=127.0.0.1:$(free_port) smtp=127.0.0.1:$(free_port)
  local token rcpt
  token=$($BIN user add bench@team.example --admin | tail -1)
  rcpt=$($BIN card create "Benchmark" | python3 -c 'import json,sys; print(json.load(sys.stdin)["archive_address"])')
  DOSSIER_HTTP__LISTEN=$http DOSSIER_SMTP__LISTEN=$smtp RUST_LOG=warn $BIN 2>"$dir.log" &
  SERVER=$!
  for _ in $(seq 100); do curl -sf "http://$http/healthz" >/dev/null && break; sleep 0.1; done
  target/release/examples/smtp_load --smtp "$smtp" --http "$http" --token "$token" --rcpt "$rcpt" \
    --messages "$N" --connections "$C" --size "$SIZE" | sed "s/^/$1 /" | tee -a "$WORK/results"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
  rm -rf "$dir"
}

for r in $(seq "$ROUNDS"); do
  one off "$r"
  one dmarc "$r"
done
kill -TERM "$DNS"; wait "$DNS" 2>/dev/null || true; DNS=""
cat "$WORK/dns.log"
python3 - "$WORK/results" <<'PY'
import re, statistics, sys
runs = {"off": {"accepted": [], "end to end": []}, "dmarc": {"accepted": [], "end to end": []}}
for line in open(sys.argv[1]):
    policy, rest = line.split(" ", 1)
    if m := re.match(r"accepted\s+(\d+) msg/s", rest):
        runs[policy]["accepted"].append(float(m[1]))
    if m := re.search(r"\((\d+) msg/s end to end\)", rest):
        runs[policy]["end to end"].append(float(m[1]))
for what in ("accepted", "end to end"):
    off, on = statistics.median(runs["off"][what]), statistics.median(runs["dmarc"][what])
    print(f"median {what:10} off {off:6.0f} msg/s   dmarc {on:6.0f} msg/s   dmarc/off {on/off:.2f}")
PY
