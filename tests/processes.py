"""Child processes the tests start (a worker, a sink): signal, kill and stop them the same way."""
from __future__ import annotations

import os
import signal
import subprocess


class ManagedProcess:
    """A `self.proc` (subprocess.Popen, or None before start) that tests stop without leaks."""

    proc: subprocess.Popen | None = None
    stop_timeout_s: float = 15.0

    def signal(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (the process commits and closes), SIGKILL if it takes too long."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
