"""Packs the workspace's build of the native module and `python/polars_adaptive` into an abi3
wheel (the layout maturin gives), for `cargo xtask wheel`.

Why not maturin itself: it builds the Python crate alone, and cargo then resolves features for
that crate alone; they differ from the workspace's (xtask's arrow-rs and test-hook features),
which changes the hashes of shared dependencies and compiles a second Polars (20+ minutes, a
GiB of disk). The workspace build already made the library; this only zips it.
`pip install .` and `maturin build` still work from pyproject.toml, with their own build.

Standard library only. Usage: pack_wheel.py --library PATH --out DIR
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import sysconfig
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "polars_adaptive"
# Fixed timestamps: the same inputs give the same wheel.
DATE = (1980, 1, 1, 0, 0, 0)


def stripped(library: Path, scratch: Path) -> Path:
    """The library without debug info (the release profile keeps line tables: ~900 MB)."""
    out = scratch / "_native.abi3.so"
    if shutil.which("strip"):
        subprocess.run(["strip", "--strip-debug", "-o", str(out), str(library)], check=True)
    else:
        shutil.copyfile(library, out)
    return out


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def metadata(project: dict) -> str:
    lines = [
        "Metadata-Version: 2.1",
        "Name: " + project["name"],
        "Version: " + project["version"],
        "Summary: " + project["description"],
        "License: " + project["license"]["text"],
        "Requires-Python: " + project["requires-python"],
    ]
    lines += ["Requires-Dist: " + d for d in project["dependencies"]]
    for extra, deps in project.get("optional-dependencies", {}).items():
        lines.append("Provides-Extra: " + extra)
        lines += [f"Requires-Dist: {d} ; extra == '{extra}'" for d in deps]
    lines += ["Classifier: " + c for c in project.get("classifiers", [])]
    readme = (ROOT / project["readme"]).read_text()
    return "\n".join(lines) + "\nDescription-Content-Type: text/markdown\n\n" + readme


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dist_name = project["name"].replace("-", "_")
    version = project["version"]
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    tag = f"cp311-abi3-{platform}"
    dist_info = f"{dist_name}-{version}.dist-info"

    with tempfile.TemporaryDirectory() as tmp:
        files: dict[str, tuple[bytes, int]] = {}
        source = ROOT / "python" / PACKAGE
        for path in sorted(source.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so":
                files[f"{PACKAGE}/{path.relative_to(source).as_posix()}"] = (
                    path.read_bytes(),
                    0o644,
                )
        native = stripped(args.library, Path(tmp)).read_bytes()
        files[f"{PACKAGE}/_native.abi3.so"] = (native, 0o755)
        files[f"{dist_info}/METADATA"] = (metadata(project).encode(), 0o644)
        wheel = f"Wheel-Version: 1.0\nGenerator: polars-adaptive xtask\nRoot-Is-Purelib: false\nTag: {tag}\n"
        files[f"{dist_info}/WHEEL"] = (wheel.encode(), 0o644)
        record = [record_line(name, data) for name, (data, _) in files.items()]
        record.append(f"{dist_info}/RECORD,,")
        files[f"{dist_info}/RECORD"] = (("\n".join(record) + "\n").encode(), 0o644)

        args.out.mkdir(parents=True, exist_ok=True)
        target = args.out / f"{dist_name}-{version}-{tag}.whl"
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, (data, mode) in files.items():
                info = zipfile.ZipInfo(name, date_time=DATE)
                info.external_attr = (mode | 0o100000) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
    print(target)


if __name__ == "__main__":
    main()
