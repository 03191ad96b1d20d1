"""The CPU check that runs before the native module loads.

The native module is compiled for the x86-64 baseline of Python Polars' default runtime
(AVX2, BMI2, FMA and the rest of ``BUILD_FEATURE_FLAGS``). On a CPU without them, loading it
would stop the interpreter with SIGILL at the first such instruction, so the check runs here,
in Python, and raises ``ImportError`` naming the missing features instead. It reads Linux's
``/proc/cpuinfo``, the only platform the wheel is built for; where that file cannot be read
the module loads unchecked.
"""

from __future__ import annotations

import platform

#: The target features the native module is compiled with: `.cargo/config.toml`'s
#: `target-feature` list (a test keeps the two equal), which is Python Polars' own.
BUILD_FEATURE_FLAGS = (
    "+sse3,+ssse3,+sse4.1,+sse4.2,+popcnt,+cmpxchg16b,+avx,+avx2,+fma,+bmi1,+bmi2,+lzcnt,"
    "+pclmulqdq,+movbe"
)

# rustc's feature names whose /proc/cpuinfo flag is spelled differently.
_CPUINFO_NAME = {
    "sse3": "pni",
    "sse4.1": "sse4_1",
    "sse4.2": "sse4_2",
    "cmpxchg16b": "cx16",
    "lzcnt": "abm",
}


def missing_features(cpuinfo: str) -> list[str]:
    """The build's features that the first ``flags`` line of ``cpuinfo`` lacks.

    Examples
    --------
    >>> missing_features("flags : pni ssse3 sse4_1 sse4_2 popcnt cx16 avx fma bmi1 abm")
    ['avx2', 'bmi2', 'pclmulqdq', 'movbe']
    """
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            flags = set(value.split())
            break
    wanted = [f.lstrip("+") for f in BUILD_FEATURE_FLAGS.split(",")]
    return [f for f in wanted if _CPUINFO_NAME.get(f, f) not in flags]


def check_cpu(cpuinfo_path: str = "/proc/cpuinfo") -> None:
    """Raise ``ImportError`` if this CPU lacks a feature the native module is compiled with."""
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
            cpuinfo = f.read()
    except OSError:
        return
    missing = missing_features(cpuinfo)
    if missing:
        msg = (
            "polars-adaptive's native module is compiled for the x86-64 baseline of Python "
            "Polars' default runtime, and this CPU lacks: "
            + ", ".join(missing)
            + f" (read from {cpuinfo_path})"
        )
        raise ImportError(msg)
