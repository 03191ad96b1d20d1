"""What every Ray task of the package shares: its runtime environment and a test hook."""

from __future__ import annotations

import os
import signal

TASK_ENV = {"env_vars": {"POLARS_MAX_THREADS": "1"}}
"""Ray gives a task one CPU: the worker processes running ours start Polars' pools (Rust's and
Python's) with one thread, so two tasks on two CPUs run two decoding threads, not four."""


def kill_once(marker: str | None) -> None:
    """Test hook, called once a task has done its work and before it returns it: the first
    task to find ``marker`` missing creates it and kills its own worker process, as a node
    failure would; Ray then runs the task again."""
    if marker is None or os.path.exists(marker):
        return
    with open(marker, "x"):
        pass
    os.kill(os.getpid(), signal.SIGKILL)
