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


def test_a_cpu_without_avx2_is_an_import_error_naming_what_it_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cpu.platform, "machine", lambda: "x86_64")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nflags\t\t: fpu pni ssse3 sse4_1 sse4_2 popcnt cx16 avx fma bmi1 abm"
        " pclmulqdq movbe\n"
    )
    with pytest.raises(ImportError, match=r"lacks: avx2, bmi2 \(read from .*cpuinfo\)"):
        _cpu.check_cpu(str(cpuinfo))


def test_a_cpu_with_every_feature_passes_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cpu.platform, "machine", lambda: "x86_64")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "flags\t\t: fpu pni ssse3 sse4_1 sse4_2 popcnt cx16 avx avx2 fma bmi1 bmi2 abm"
        " pclmulqdq movbe\n"
    )
    _cpu.check_cpu(str(cpuinfo))
