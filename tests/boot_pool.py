"""Several boot workers booting the app at the same moment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any


WORKER = Path(__file__).with_name("boot_worker.py")


class BootPool:
    """``size`` long-lived ``boot_worker.py`` processes."""

    def __init__(self, size: int, env: dict[str, str] | None = None) -> None:
        environment = {**os.environ, **(env or {})}
        self.workers = [
            subprocess.Popen(
                [sys.executable, str(WORKER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=environment,
            )
            for _ in range(size)
        ]
        for worker in self.workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError("a boot worker did not start")

    def boot_all(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        """Ask every worker to boot with ``config`` at once; return their reports."""
        line = json.dumps(config) + "\n"
        for worker in self.workers:
            assert worker.stdin is not None
            worker.stdin.write(line)
            worker.stdin.flush()
        reports = []
        for worker in self.workers:
            assert worker.stdout is not None
            reply = worker.stdout.readline()
            if not reply:
                raise RuntimeError(f"boot worker {worker.pid} died")
            reports.append(json.loads(reply))
        return reports

    def close(self) -> None:
        for worker in self.workers:
            try:
                assert worker.stdin is not None
                worker.stdin.write("quit\n")
                worker.stdin.close()
            except OSError:  # the worker has gone already
                pass
        for worker in self.workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            if worker.stdout is not None:
                worker.stdout.close()

    def __enter__(self) -> BootPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def wall_seconds(reports: list[dict[str, Any]]) -> float:
    """From the first boot's start to the last boot's end."""
    return float(max(r["end"] for r in reports) - min(r["start"] for r in reports))
