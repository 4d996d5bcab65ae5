//! docs/promises.md may call a promise `kept` only where a test proves it: a row that says kept
//! with no test function named with its id (`P-RET-2` → a fn whose name starts `p_ret_2_`) fails
//! here, and so does every cited file or `path::name` that does not exist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One row of the promises table.
struct Row {
    id: String,
    state: String,
    proof: String,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(root().join("docs/promises.md")).expect("docs/promises.md");
    let rows: Vec<Row> = text
        .lines()
        .filter(|l| l.starts_with("| P-"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            assert!(
                cells.len() >= 6,
                "a row has id, promise, state, proof: {line}"
            );
            Row {
                id: cells[1].trim().to_owned(),
                state: cells[3].trim().to_owned(),
                // A proof may itself hold a `|` (none does today); keep everything up to the end.
                proof: cells[4..cells.len() - 1].join("|").trim().to_owned(),
            }
        })
        .collect();
    assert!(rows.len() > 40, "the table was found");
    rows
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The name of every function defined in the workspace's Rust files.
fn function_names() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    let mut names = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, _) in text.match_indices("fn ") {
            let before = text[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let name: String = text[i + 3..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// `P-RIGHTS-2` → `p_rights_2_`.
fn prefix(id: &str) -> String {
    format!("{}_", id.to_lowercase().replace('-', "_"))
}

fn is_kept(state: &str) -> bool {
    state.starts_with("kept")
}

/// `a/{b,c}.rs` → `a/b.rs`, `a/c.rs` (one brace group).
fn expand(path: &str) -> Vec<String> {
    match (path.find('{'), path.find('}')) {
        (Some(open), Some(close)) if open < close => path[open + 1..close]
            .split(',')
            .map(|alt| format!("{}{}{}", &path[..open], alt, &path[close + 1..]))
            .collect(),
        _ => vec![path.to_owned()],
    }
}

/// The backticked spans of a proof.
fn spans(proof: &str) -> Vec<&str> {
    proof.split('`').skip(1).step_by(2).collect()
}

#[test]
fn every_promise_called_kept_has_a_test_named_with_its_id() {
    let names = function_names();
    let unproven: Vec<String> = rows()
        .iter()
        .filter(|r| is_kept(&r.state))
        .filter(|r| {
            let p = prefix(&r.id);
            !names.iter().any(|n| n.starts_with(&p))
        })
        .map(|r| format!("{} (no fn named {}…)", r.id, prefix(&r.id)))
        .collect();
    assert!(
        unproven.is_empty(),
        "docs/promises.md calls these kept without a test named with the id: {unproven:#?}"
    );
}

#[test]
fn every_state_is_kept_partial_or_not_built() {
    for row in rows() {
        assert!(
            is_kept(&row.state) || row.state.starts_with("partial") || row.state == "not yet",
            "{}: unknown state `{}`",
            row.id,
            row.state
        );
        assert!(
            !is_kept(&row.state) || !row.proof.is_empty(),
            "{}: kept without a proof",
            row.id
        );
    }
}

#[test]
fn every_cited_file_and_test_exists() {
    let root = root();
    let mut missing = Vec::new();
    for row in rows() {
        // `::name` continues the last cited file.
        let mut last_file: Option<String> = None;
        for span in spans(&row.proof) {
            let (file, name) = if let Some(rest) = span.strip_prefix("::") {
                match &last_file {
                    Some(f) => (f.clone(), Some(rest)),
                    None => continue,
                }
            } else if ["crates/", "tests/", "web/", "scripts/", "docs/"]
                .iter()
                .any(|p| span.starts_with(p))
            {
                match span.split_once("::") {
                    Some((f, n)) => (f.to_owned(), Some(n)),
                    None => (span.split_whitespace().next().unwrap().to_owned(), None),
                }
            } else {
                continue;
            };
            for path in expand(&file) {
                let full = root.join(&path);
                if !full.exists() {
                    missing.push(format!("{}: {path}", row.id));
                    continue;
                }
                last_file = Some(file.clone());
                // The test's own name: the last `::` segment; `*` and `{a,b}` stand for
                // generated modules and are not names.
                let Some(name) = name.map(|n| n.rsplit("::").next().unwrap()) else {
                    continue;
                };
                if name.contains('*') || name.contains('{') || full.is_dir() {
                    continue;
                }
                let text = std::fs::read_to_string(&full).unwrap();
                if !text.contains(&format!("fn {name}")) {
                    missing.push(format!("{}: {path}::{name}", row.id));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/promises.md cites what does not exist: {missing:#?}"
    );
}

#[test]
fn the_checks_themselves_work() {
    assert_eq!(prefix("P-RIGHTS-2"), "p_rights_2_");
    assert_eq!(
        expand("crates/a/{x,y}.rs"),
        vec!["crates/a/x.rs", "crates/a/y.rs"]
    );
    assert_eq!(spans("a `b` c `d::e` f"), vec!["b", "d::e"]);
    assert!(is_kept("kept (built-in engine)") && !is_kept("partial"));
    let names = function_names();
    assert!(names.contains("every_promise_called_kept_has_a_test_named_with_its_id"));
    assert!(!names.contains("p_nothing_0_"));
}
