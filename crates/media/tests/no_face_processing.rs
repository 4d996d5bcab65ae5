//! P-IN-4: faces in uploads are processed only to make the requested video, so no face
//! detection, embedding, recognition or tracking exists anywhere in the system. The engine
//! treats an image as pixels to crop, scale and pan; this test keeps it that way by refusing any
//! dependency, direct or transitive, that does face or person analysis, and any code in the
//! workspace that names such a feature.

use std::path::Path;

/// Crates (by name fragment) that detect, embed, recognise or track faces or people, or general
/// vision toolkits that bundle those models.
const FORBIDDEN_CRATES: &[&str] = &[
    "face",
    "opencv",
    "dlib",
    "seeta",
    "mtcnn",
    "retinaface",
    "arcface",
    "insightface",
    "mediapipe",
    "yolo",
    "pose",
    "landmark",
];

/// Words that would name face processing in our own code.
const FORBIDDEN_WORDS: &[&str] = &[
    "face_detect",
    "facedetect",
    "detect_face",
    "face_recogn",
    "face_embed",
    "face_track",
    "facial",
    "biometric",
];

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn p_in_4_no_dependency_detects_recognises_or_tracks_faces() {
    let lock = std::fs::read_to_string(workspace().join("Cargo.lock")).expect("Cargo.lock");
    let names: Vec<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .collect();
    assert!(
        names.len() > 100,
        "the lock file was read: {} crates",
        names.len()
    );
    let bad: Vec<&&str> = names
        .iter()
        .filter(|n| {
            // `interface`/`surface`-style words are not faces: only whole name parts count.
            n.split(['-', '_'])
                .any(|part| FORBIDDEN_CRATES.contains(&part))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "face or person analysis crates in the tree: {bad:?}"
    );
}

#[test]
fn p_in_4_no_code_in_the_workspace_names_face_processing() {
    let mut hits = Vec::new();
    let mut stack = vec![workspace().join("crates"), workspace().join("web")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let is_code = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("rs" | "js" | "html" | "py" | "toml" | "json")
            );
            // This file lists the words, so it is the one place they may appear.
            if !is_code || path.file_name() == Some("no_face_processing.rs".as_ref()) {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .unwrap_or_default()
                .to_lowercase();
            for word in FORBIDDEN_WORDS {
                if text.contains(word) {
                    hits.push(format!("{}: {word}", path.display()));
                }
            }
        }
    }
    assert!(hits.is_empty(), "{hits:#?}");
}
