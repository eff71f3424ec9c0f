#!/usr/bin/env bash
# Demo: a generated day of support traffic -> offline SLA replay -> summary tables.
# Run through `make demo` (which installs the venv first) or directly from anywhere.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${VENV:-.venv}"
OUT=.demo
mkdir -p "$OUT"

"$VENV/bin/slawatch" generate --out "$OUT/events.jsonl" --days 1
"$VENV/bin/slawatch" replay "$OUT/events.jsonl" --rules rules/sla.yaml --out "$OUT/sla-records.jsonl"
"$VENV/bin/slawatch" summary "$OUT/sla-records.jsonl"

echo
echo "events:      $PWD/$OUT/events.jsonl"
echo "SLA records: $PWD/$OUT/sla-records.jsonl"
