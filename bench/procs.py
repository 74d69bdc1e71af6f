"""A child process in a session of its own, so that stopping or kill -9 of its group takes its children too.

Shared by the fault drivers that start and kill platform processes: ``make chaos``
(bench/chaos.py) and the integration tests' worker processes.
"""

from __future__ import annotations

import os
import signal
import subprocess


class ProcessGroup:
    proc: subprocess.Popen | None = None

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill9()
