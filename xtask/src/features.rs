//! `cargo xtask features`: checks that Cargo resolves every shared dependency with the same
//! features when it builds xtask alone (what `cargo xtask` does) as when it builds the
//! workspace, so that both link one compiled Polars. xtask/Cargo.toml lists the features the
//! other members turn on (docs/decisions.md, "The wheel is packed from the workspace build").

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};

/// Package (`name vX.Y.Z`) → the features Cargo turned on.
pub type Features = BTreeMap<String, BTreeSet<String>>;

/// Reads `cargo tree --prefix none -f "{p} [{f}]"`. A package printed again (marked `(*)`)
/// carries the same features; lines of another shape are skipped.
pub fn parse(text: &str) -> Features {
    let mut out = Features::new();
    for line in text.lines() {
        let line = line.trim().trim_end_matches(" (*)");
        let (Some(open), Some(close)) = (line.find(" ["), line.rfind(']')) else {
            continue;
        };
        let features = line[open + 2..close]
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_string);
        out.entry(line[..open].to_string())
            .or_default()
            .extend(features);
    }
    out
}

/// The packages xtask shares with the workspace whose features differ, with the features
/// only the workspace has and those only xtask has.
pub fn differences(
    workspace: &Features,
    xtask: &Features,
) -> Vec<(String, Vec<String>, Vec<String>)> {
    xtask
        .iter()
        .filter_map(|(package, ours)| {
            let theirs = workspace.get(package)?;
            (theirs != ours).then(|| {
                (
                    package.clone(),
                    theirs.difference(ours).cloned().collect(),
                    ours.difference(theirs).cloned().collect(),
                )
            })
        })
        .collect()
}

fn resolved(selection: &[&str]) -> Result<Features> {
    let out = crate::nested_cargo()
        .args([
            "tree",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "-f",
            "{p} [{f}]",
        ])
        .args(selection)
        .current_dir(crate::project_root())
        .output()
        .context("running cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree {}: {}",
            selection.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(parse(
        &String::from_utf8(out.stdout).context("cargo tree's output")?,
    ))
}

/// Fails, naming each package and feature, when `cargo xtask` would compile its own copy of
/// a dependency.
pub fn check() -> Result<()> {
    let workspace = resolved(&["--workspace"])?;
    let xtask = resolved(&["-p", "xtask"])?;
    let diffs = differences(&workspace, &xtask);
    if diffs.is_empty() {
        println!(
            "features: the {} packages xtask builds resolve as in the workspace build",
            xtask.len()
        );
        return Ok(());
    }
    for (package, workspace_only, xtask_only) in &diffs {
        eprintln!(
            "{package}: only the workspace has {workspace_only:?}, only xtask {xtask_only:?}"
        );
    }
    bail!(
        "{} packages resolve with other features under `cargo xtask` than in the workspace \
         build, so it compiles them (and what depends on them) again: give xtask/Cargo.toml the \
         workspace's features",
        diffs.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feature_only_the_workspace_turns_on_is_a_difference() {
        let workspace = parse("tokio v1.54.1 [rt,signal]\nserde v1.0.0 [std]\nring v0.17.0 []\n");
        let xtask = parse("tokio v1.54.1 [rt]\nserde v1.0.0 [std] (*)\n");
        assert_eq!(
            differences(&workspace, &xtask),
            vec![(
                "tokio v1.54.1".to_string(),
                vec!["signal".to_string()],
                vec![]
            )]
        );
    }

    #[test]
    fn packages_printed_twice_and_other_lines_parse_once() {
        let parsed = parse("a v1 [x]\na v1 [x] (*)\n\nwarning: something\nb v2 []\n");
        assert_eq!(parsed.len(), 2);
        assert!(parsed["b v2"].is_empty());
    }
}
