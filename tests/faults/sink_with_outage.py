"""`slawatch sink` with a switchable ClickHouse outage, for the fault tests.

The same code as `slawatch sink` (KafkaClickHouseSink, its HTTP server, run until SIGTERM), plus
two signals: SIGUSR1 points the sink's ClickHouse client at a loopback port nothing listens on
and drops its connection (every write then fails with "connection refused", as when a server
is down), SIGUSR2 points it back at the real database. Only the outage is staged; retries,
backpressure, metrics and recovery are the sink's own.

    python -m tests.faults.sink_with_outage DSN DOWN_DSN
"""
from __future__ import annotations

import asyncio
import signal
import sys

from sinks.kafka_to_clickhouse import KafkaClickHouseSink, start_http
from streams.service import run_until_signalled
from streams.settings import Settings


def main(dsn: str, down: str) -> None:
    settings = Settings()

    async def run(stop: asyncio.Event) -> None:
        runner = KafkaClickHouseSink(settings, dsn)
        loop = asyncio.get_running_loop()

        def point_at(target: str) -> None:
            def switch() -> None:
                runner.sink.dsn = target
                runner.sink.close()   # the next write connects to `target`
            loop.run_in_executor(None, switch)

        loop.add_signal_handler(signal.SIGUSR1, point_at, down)
        loop.add_signal_handler(signal.SIGUSR2, point_at, dsn)
        web = await start_http(runner, settings)
        try:
            await runner.run(stop)
        finally:
            await web.cleanup()

    run_until_signalled(run)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
