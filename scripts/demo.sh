#!/usr/bin/env bash
# Demo on the embedded default: broker (tansu) + live worker + real-time generator + live view,
# then an offline replay of a generated day for the SLA summary. `make demo` installs first.
# DEMO_SECONDS (default 60) is how long the live part runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${VENV:-.venv}"
SW="$VENV/bin/slawatch"
# Where everything goes (logs, embedded ClickHouse, the replayed day, the report): DEMO_OUT.
OUT="$(realpath -m "${DEMO_OUT:-.demo}")"
SECONDS_LIVE="${DEMO_SECONDS:-60}"
mkdir -p "$OUT"
rm -f "$OUT/broker.url"

pids=()
# Stop in reverse order of start, the broker last: the worker and the sink commit and close
# their Kafka clients while the broker is still there.
cleanup() {
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null || true
        [ "$i" -eq 0 ] || wait "${pids[i]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$SW" broker --url-file "$OUT/broker.url" > "$OUT/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$OUT/broker.url" ] && break; sleep 0.2; done
[ -s "$OUT/broker.url" ] || { echo "embedded broker did not start; see $OUT/broker.log"; exit 1; }

export SLAWATCH_BROKER_URL="$(cat "$OUT/broker.url")" SLAWATCH_EMBEDDED=true
export SLAWATCH_APP_ID="slawatch-demo-$$" SLAWATCH_HTTP_PORT="${SLAWATCH_HTTP_PORT:-9108}"
export SLAWATCH_SINK_HTTP_PORT="${SLAWATCH_SINK_HTTP_PORT:-9109}"
"$SW" worker > "$OUT/worker.log" 2>&1 &
pids+=($!)
# History: the sink copies sla.events, metric windows and dead letters into embedded ClickHouse
# (chdb; one process owns the directory, so it is queried after the sink stops).
rm -rf "$OUT/clickhouse"
"$SW" sink --clickhouse "chdb://$OUT/clickhouse" > "$OUT/sink.log" 2>&1 &
pids+=($!)
# Busy real-time traffic starting now: ~40 chats a minute, so breaches show within seconds.
"$SW" generate --to-kafka --start now --speedup 1 --days 0.05 \
    --conversations-per-day 60000 --tickets-per-day 3000 --seed "$RANDOM" > "$OUT/generator.log" 2>&1 &
pids+=($!)

cat <<MSG
slawatch live demo
  broker (embedded tansu): $SLAWATCH_BROKER_URL        log: $OUT/broker.log
  worker status (JSON):    http://127.0.0.1:$SLAWATCH_HTTP_PORT/status   log: $OUT/worker.log
  Prometheus metrics:      http://127.0.0.1:$SLAWATCH_HTTP_PORT/metrics (worker), http://127.0.0.1:$SLAWATCH_SINK_HTTP_PORT/metrics (sink)
  ClickHouse history:      $OUT/clickhouse (chdb)   log: $OUT/sink.log
  topics: support.conversations, support.tickets -> sla.events, sla.metric-windows, support.dead-letter
  live view for ${SECONDS_LIVE}s (any time: $SW view --url http://127.0.0.1:$SLAWATCH_HTTP_PORT/status)
MSG
"$SW" view --url "http://127.0.0.1:$SLAWATCH_HTTP_PORT/status" --duration "$SECONDS_LIVE" || true
cleanup
trap - EXIT

echo
echo "ClickHouse history written by the sink during the live run:"
"$VENV/bin/python" - "$OUT/clickhouse" <<'PY' || echo "  (no history: see $OUT/sink.log)"
import sys
from sinks.clickhouse import ClickHouseSink
sink = ClickHouseSink(f"chdb://{sys.argv[1]}")
sink.connect()
sink.migrate()  # idempotent; also creates the database when the sink wrote nothing
try:
    counts = sink.status_counts()
    for (metric, status), n in sorted(counts.items()):
        print(f"  {metric:15} {status:15} {n:6}")
    print(f"  breaches: {sink.count_breaches()}" if counts else "  no records yet")
    # The live QA stage writes targeted cases (breached, low CSAT, ...) as soon as they end.
    qa = sink.read("SELECT arrayJoin(reasons) AS reason, count() FROM qa_samples FINAL "
                   "GROUP BY reason ORDER BY count() DESC")["rows"]
    print("  QA samples so far (worst cases, written as they ended): "
          + (", ".join(f"{r} {n}" for r, n in qa) if qa else "none yet"))
finally:
    sink.close()
PY

echo
echo "Offline: a generated day replayed through the same engine"
"$SW" generate --out "$OUT/events.jsonl" --days 1
"$SW" replay "$OUT/events.jsonl" --rules rules/sla.yaml --out "$OUT/sla-records.jsonl"
"$SW" summary "$OUT/sla-records.jsonl"
"$SW" qa sample "$OUT/events.jsonl" --clickhouse "chdb://$OUT/clickhouse" --day 2026-11-02 > "$OUT/qa-sample.txt"
"$SW" report --events "$OUT/events.jsonl" --from 2026-11-02 --to 2026-11-02 --html "$OUT/report.html" > "$OUT/report.txt"
echo
echo "events:         $OUT/events.jsonl"
echo "SLA records:    $OUT/sla-records.jsonl"
echo "daily report:   $OUT/report.html (and $OUT/report.txt)"
echo "QA sample:      $(head -1 "$OUT/qa-sample.txt" | tr '\t' ' ') drawn for 2026-11-02; pull one agent's as review pages:"
echo "                $SW qa pull --from 2026-11-02 --to 2026-11-02 --agent A007 --format html --out $OUT/qa-A007 --clickhouse chdb://$OUT/clickhouse"
