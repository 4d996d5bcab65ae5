//! The workspace's lint rules hold for every crate, including ones added later: each takes the
//! workspace's `[lints]` table (`unsafe_code` denied, `SAFETY:` comments checked), and each crate
//! root denies `unwrap`/`expect` outside tests (see the comment in the root Cargo.toml).

use std::path::{Path, PathBuf};

const DENY_PANICS: &str = "#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]";

fn crates() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "found the workspace's crates: {dirs:?}");
    dirs
}

#[test]
fn every_crate_takes_the_workspace_lints() {
    for dir in crates() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("\n[lints]\nworkspace = true"),
            "{} does not take the workspace's lints",
            dir.display()
        );
    }
}

#[test]
fn every_crate_root_denies_unwrap_and_expect_outside_tests() {
    for dir in crates() {
        // Benchmarks are measuring tools run by hand; they may stop at the first failure.
        if dir.ends_with("bench") {
            continue;
        }
        let roots: Vec<PathBuf> = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|r| dir.join(r))
            .filter(|p| p.is_file())
            .collect();
        assert!(!roots.is_empty(), "{} has no crate root", dir.display());
        for root in roots {
            let text = std::fs::read_to_string(&root).unwrap();
            assert!(
                text.lines().any(|l| l.trim() == DENY_PANICS),
                "{} lacks `{DENY_PANICS}`",
                root.display()
            );
        }
    }
}

/// The rules bite: a throwaway workspace with this workspace's lint tables and a crate root with
/// the deny line fails `cargo clippy -D warnings` on an `unwrap`, an `unsafe` block without a
/// `SAFETY:` comment or an undeclared `unsafe`, and passes once the code handles its error.
#[test]
fn clippy_refuses_an_unwrap_and_undocumented_unsafe_under_these_rules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let start = manifest.find("[workspace.lints.rust]").unwrap();
    let end = manifest[start..]
        .find("[workspace.dependencies]")
        .map(|e| start + e)
        .unwrap();
    let lints = &manifest[start..end];
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    std::fs::write(
        ws.join("Cargo.toml"),
        format!("[workspace]\nresolver = \"2\"\nmembers = [\"probe\"]\n\n{lints}"),
    )
    .unwrap();
    std::fs::create_dir_all(ws.join("probe/src")).unwrap();
    std::fs::write(
        ws.join("probe/Cargo.toml"),
        "[package]\nname = \"probe\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [lints]\nworkspace = true\n",
    )
    .unwrap();
    let clippy = |body: &str| -> (bool, String) {
        std::fs::write(
            ws.join("probe/src/lib.rs"),
            format!("{DENY_PANICS}\n\n{body}\n"),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO"))
            .args(["clippy", "--quiet", "--offline", "--", "-D", "warnings"])
            .current_dir(ws)
            .env("CARGO_TARGET_DIR", ws.join("target"))
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, log) = clippy("pub fn first(v: &[u8]) -> u8 {\n    *v.first().unwrap()\n}");
    assert!(!ok && log.contains("unwrap_used"), "{log}");
    let (ok, log) = clippy("pub fn first(v: &[u8]) -> u8 {\n    unsafe { *v.as_ptr() }\n}");
    assert!(!ok && log.contains("unsafe"), "{log}");
    let (ok, log) = clippy(
        "#![allow(unsafe_code)]\npub fn first(v: &[u8]) -> u8 {\n    unsafe { *v.as_ptr() }\n}",
    );
    assert!(!ok && log.contains("undocumented_unsafe_blocks"), "{log}");
    let (ok, log) =
        clippy("pub fn first(v: &[u8]) -> u8 {\n    v.first().copied().unwrap_or(0)\n}");
    assert!(ok, "{log}");
}
