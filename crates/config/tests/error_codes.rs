//! The error-code catalogue (`reelsmith_core::Code`) is the one list of codes: docs/api.md shows
//! exactly its rows, the studio's scripts name codes only through it, and the server answers no
//! code it does not hold.

use std::path::{Path, PathBuf};

use reelsmith_core::Code;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn row(code: Code) -> String {
    format!(
        "| `{}` | {} | {} |",
        code.as_str(),
        code.status(),
        code.meaning()
    )
}

#[test]
fn docs_api_lists_every_code_of_the_catalogue_and_no_other() {
    let doc = read("docs/api.md");
    let section = doc
        .split_once("### Error codes\n")
        .expect("docs/api.md has a `### Error codes` section")
        .1;
    let section = section.split("\n#").next().unwrap_or(section);
    let documented: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
    let expected: Vec<String> = Code::ALL.iter().map(|c| row(*c)).collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|r| !documented.contains(&r.as_str()))
        .collect();
    let unknown: Vec<&&str> = documented
        .iter()
        .filter(|r| !expected.iter().any(|e| e == *r))
        .collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/api.md's error-code table differs from crates/core/src/codes.rs.\n\
         Rows to add (or correct):\n{}\nRows to remove (or correct):\n{}",
        missing
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        unknown.iter().map(|r| **r).collect::<Vec<_>>().join("\n"),
    );
    assert_eq!(
        documented,
        expected.iter().map(String::as_str).collect::<Vec<_>>(),
        "the rows are in the catalogue's order"
    );
}

#[test]
fn the_studio_names_codes_only_through_the_catalogue() {
    let names: Vec<String> = Code::ALL.iter().map(|c| c.js_name()).collect();
    let dir = root().join("web/static");
    let mut scripts = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "js") {
            continue;
        }
        scripts += 1;
        let script = std::fs::read_to_string(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy();
        for code in Code::ALL {
            for quote in ['\'', '"', '`'] {
                let literal = format!("{quote}{}{quote}", code.as_str());
                assert!(
                    !script.contains(&literal),
                    "{file} copies the code {literal}: write E.{} instead",
                    code.js_name()
                );
            }
        }
        // `E.NAME`: every name the script reads is one the catalogue has.
        for (at, _) in script.match_indices("E.") {
            let before = script[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let name: String = script[at + 2..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if name.is_empty() {
                continue;
            }
            assert!(
                names.contains(&name),
                "{file} names E.{name}, which is not in the catalogue"
            );
        }
    }
    assert!(
        scripts >= 3,
        "the studio's scripts are in {}",
        dir.display()
    );
    let app = read("web/static/app.js");
    assert!(app.contains("const E = window.ERROR_CODES;"));
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_server_answers_codes_only_from_the_catalogue() {
    let mut files = Vec::new();
    rust_files(&root().join("crates/server/src"), &mut files);
    assert!(files.len() > 20);
    let mut inline = Vec::new();
    for path in &files {
        let source = std::fs::read_to_string(path).unwrap();
        let squeezed: String = source.split_whitespace().collect::<Vec<_>>().join(" ");
        for (at, _) in squeezed.match_indices("ApiError::new(") {
            // The code is the second argument: a string literal there is an inline code.
            let args = &squeezed[at + "ApiError::new(".len()..];
            let second = args.split_once(',').map(|(_, rest)| rest.trim_start());
            if second.is_some_and(|s| s.starts_with('"')) {
                let shown: String = args.chars().take(80).collect();
                inline.push(format!("{}: {shown}", path.display()));
            }
        }
        for (at, _) in squeezed.match_indices("ApiError::internal(\"") {
            let shown: String = squeezed[at..].chars().take(80).collect();
            inline.push(format!("{}: {shown}", path.display()));
        }
    }
    assert!(
        inline.is_empty(),
        "answer these with ApiError::of(Code::…) / ApiError::fault(Code::…), adding the code to \
         crates/core/src/codes.rs and docs/api.md:\n{}",
        inline.join("\n")
    );
}
