"""What every long-running slawatch process shares: run until SIGTERM/SIGINT, serve HTTP routes."""
from __future__ import annotations

import asyncio
import logging
import signal
from typing import Awaitable, Callable


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)`; SIGTERM/SIGINT set `stop` so it can finish its work and commit."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(runner())


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds` (a backoff); True if `stop` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        return False
    return True


async def start_until_up(make: Callable, stop: asyncio.Event, backoff_s: float,
                         backoff_max_s: float, on_failure: Callable[[Exception, float], None]):
    """Start a fresh Kafka client from `make()` until one starts; None if `stop` came first.

    A client whose start failed is not reusable (aiokafka keeps half its state), so each attempt
    builds a new one. `on_failure(exc, delay)` reports each failure before the backoff.
    """
    from aiokafka.errors import KafkaError

    delay = backoff_s
    while True:
        client = make()
        try:
            await client.start()
            return client
        except KafkaError as exc:
            await client.stop()
            on_failure(exc, delay)
        if await wait_or_stop(stop, delay):
            return None
        delay = min(delay * 2, backoff_max_s)


async def serve_http(routes: list[tuple[str, str, Callable]], host: str, port: int):
    """Start an aiohttp server for (method, path, handler) routes; returns it for `cleanup()`."""
    from aiohttp import web

    app = web.Application()
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
