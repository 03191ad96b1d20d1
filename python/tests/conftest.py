"""Shared settings and helpers of the pytest suite (run by `cargo xtask test` against the
installed wheel, in one virtual environment per supported Python Polars)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI runs the same examples every time (a failure there replays); elsewhere hypothesis draws
# new ones on every run. `HYPOTHESIS_PROFILE=explore` draws new ones in CI too.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "explore")
)

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "parquet-testing"


@pytest.fixture
def shared_corpus() -> Path:
    """The shared Parquet corpus; tests using it are skipped when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/parquet-testing is absent")
    return SHARED
