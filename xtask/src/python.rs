//! The Python package's tasks: `cargo xtask wheel` builds the wheel into `target/wheels/`; `cargo xtask test` runs every test, the Rust workspace's and the Python
//! package's pytest suite in one fresh virtual environment per supported Polars (oldest and
//! newest), each from pinned requirements under `python/`.
//!
//! The environments live under `target/python/`, re-created only when their requirements
//! change. Nothing is installed outside them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::project_root;

/// The test environments: name and requirements file (under `python/`).
pub const TEST_ENVS: [(&str, &str); 2] = [
    ("polars-1", "requirements-test-polars1.txt"),
    ("polars-2", "requirements-test-polars2.txt"),
];

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// The interpreter that creates environments: `PYTHON`, else `python3.11`, else `python3`.
fn base_python() -> String {
    if let Ok(p) = std::env::var("PYTHON") {
        return p;
    }
    let works = |p: &str| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    ["python3.11", "python3"]
        .into_iter()
        .find(|p| works(p))
        .unwrap_or("python3")
        .to_string()
}

/// A virtual environment at `target/python/<name>` with `requirements` installed; rebuilt when
/// the requirements file's text changes (the copy kept inside says what is installed).
pub fn venv(name: &str, requirements: &Path) -> Result<PathBuf> {
    let dir = project_root().join("target/python").join(name);
    let wanted = std::fs::read_to_string(requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = dir.join("requirements.installed");
    let python = dir.join("bin/python");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return Ok(python);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    eprintln!("creating {} from {}", dir.display(), requirements.display());
    run(Command::new(base_python()).args(["-m", "venv"]).arg(&dir))?;
    run(pip_install(&python).arg("-r").arg(requirements))?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

/// Installs `wheel` into the environment of `python`, over any earlier build of it.
fn install(python: &Path, wheel: &Path) -> Result<()> {
    run(pip_install(python)
        .args(["--force-reinstall", "--no-deps"])
        .arg(wheel))
}

/// `pip install`, quietly, in the environment of `python`.
fn pip_install(python: &Path) -> Command {
    let mut command = Command::new(python);
    command.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]);
    command
}

/// Builds the abi3 wheel into `target/wheels/` and returns its path: the workspace's build
/// (one compiled Polars for everything) packed by `python/tools/pack_wheel.py`; that script
/// says why maturin is not run here.
pub fn wheel() -> Result<PathBuf> {
    let root = project_root();
    run(crate::nested_cargo()
        .args(["build", "--release", "--workspace"])
        .current_dir(&root))?;
    let library = release_dir().join("libpolars_adaptive_native.so");
    let out = root.join("target/wheels");
    if out.exists() {
        for entry in std::fs::read_dir(&out)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "whl") {
                std::fs::remove_file(path)?;
            }
        }
    }
    run(Command::new(base_python())
        .arg(root.join("python/tools/pack_wheel.py"))
        .arg("--library")
        .arg(&library)
        .arg("--out")
        .arg(&out))?;
    let wheel = std::fs::read_dir(&out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("no wheel was written")?;
    eprintln!("wheel: {}", wheel.display());
    Ok(wheel)
}

/// The workspace's release build folder.
fn release_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"))
        .join("release")
}

/// Every test: `cargo test --release --workspace`, then the wheel and pytest in each
/// environment of [`TEST_ENVS`]. `pytest_args` go to pytest.
pub fn test(pytest_args: &[String], rust: bool) -> Result<()> {
    let root = project_root();
    if rust {
        run(crate::nested_cargo()
            .args(["test", "--release", "--workspace"])
            .current_dir(&root))?;
    }
    let wheel = wheel()?;
    for (name, requirements) in TEST_ENVS {
        let python = venv(
            &format!("test-{name}"),
            &root.join("python").join(requirements),
        )?;
        install(&python, &wheel)?;
        eprintln!("pytest in {name}");
        // From the tests' folder, so that `import polars_adaptive` finds the installed
        // wheel, not the sources under python/.
        // The command-line binary the Flight SQL tests start servers with, from the same
        // workspace build as the wheel.
        run(Command::new(&python)
            .env("POLARS_ADAPTIVE_BIN", release_dir().join("polars-adaptive"))
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .args(pytest_args)
            .arg(".")
            .current_dir(root.join("python/tests")))?;
    }
    Ok(())
}

/// The Python benchmark on the datasets under `data`: the wheel installed into a venv of the
/// benchmark's engines (`python/requirements-bench.txt`), then `python/bench/bench.py`, which
/// writes `benchmarks-python.md` and `.svg` into `report`.
pub fn bench(data: &Path, report: &Path, runs: usize) -> Result<()> {
    run(&mut bench_script("bench.py", data, report, runs)?)
}

/// The Flight SQL benchmark (`python/bench/bench_flight.py`) on the ticks under `data`: the
/// server binary of the same build against the in-process front end and DuckDB; writes
/// `benchmarks-flight.md` into `report`. Clients run for `seconds` per concurrency level.
pub fn bench_flight(data: &Path, report: &Path, runs: usize, seconds: u32) -> Result<()> {
    run(bench_script("bench_flight.py", data, report, runs)?
        .arg("--bin")
        .arg(release_dir().join("polars-adaptive"))
        .arg("--seconds")
        .arg(seconds.to_string()))
}

/// The Ray benchmark (`python/bench/bench_ray.py`) on the ticks under `data`: SQL split by
/// split on a local Ray against one process and Ray Data's own reader; writes
/// `benchmarks-ray.md` into `report`.
pub fn bench_ray(data: &Path, report: &Path, runs: usize) -> Result<()> {
    run(&mut bench_script("bench_ray.py", data, report, runs)?)
}

/// `python/bench/<script> --data DATA --out REPORT --runs N` in the benchmark environment: its
/// Python with the fresh wheel installed, run from a folder outside the sources (so
/// `import polars_adaptive` is the wheel).
fn bench_script(script: &str, data: &Path, report: &Path, runs: usize) -> Result<Command> {
    let root = project_root();
    let wheel = wheel()?;
    let python = venv("bench", &root.join("python/requirements-bench.txt"))?;
    install(&python, &wheel)?;
    let mut command = Command::new(&python);
    command
        .current_dir(std::env::temp_dir())
        .arg(root.join("python/bench").join(script))
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(report)
        .arg("--runs")
        .arg(runs.max(1).to_string());
    Ok(command)
}
