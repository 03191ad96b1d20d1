"""The import-time CPU check: a CPU without the build's features gets an ImportError naming
them, not a SIGILL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT

from polars_adaptive import _cpu


def test_the_cpu_check_lists_the_features_the_workspace_compiles_with() -> None:
    config = (ROOT / ".cargo" / "config.toml").read_text()
    flags = re.search(r'"target-feature=([^"]+)"', config)
    assert flags is not None, "no target-feature in .cargo/config.toml"
    assert flags.group(1) == _cpu.BUILD_FEATURE_FLAGS


def _check_cpu_with_flags(flags: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``check_cpu`` on an x86-64 machine whose /proc/cpuinfo lists ``flags``."""
    monkeypatch.setattr(_cpu.platform, "machine", lambda: "x86_64")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    _cpu.check_cpu(str(cpuinfo))


def test_a_cpu_without_avx2_is_an_import_error_naming_what_it_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = "fpu pni ssse3 sse4_1 sse4_2 popcnt cx16 avx fma bmi1 abm pclmulqdq movbe"
    with pytest.raises(ImportError, match=r"lacks: avx2, bmi2 \(read from .*cpuinfo\)"):
        _check_cpu_with_flags(flags, tmp_path, monkeypatch)


def test_a_cpu_with_every_feature_passes_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = "fpu pni ssse3 sse4_1 sse4_2 popcnt cx16 avx avx2 fma bmi1 bmi2 abm pclmulqdq movbe"
    _check_cpu_with_flags(flags, tmp_path, monkeypatch)
