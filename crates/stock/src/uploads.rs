//! The user's own past uploads as a source of pictures: the server passes in what it knows of
//! the user's uploads (only that user's: the caller owns the isolation), and they are ranked
//! exactly like the library and stock results, by their words (file name, title, description).

use crate::keywords::Term;
use crate::rank::{rank, Attribution, Candidate, MediaKind, Ranked, Source, Want};

/// What the server knows of one upload.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadDescriptor {
    /// The upload's id (what a storyboard names).
    pub id: String,
    /// The name it was uploaded under ("beach-day.jpg"); its words count, its extension not.
    pub file_name: String,
    /// Any words the user gave it (title, description).
    pub description: Option<String>,
    pub kind: MediaKind,
    pub width: u32,
    pub height: u32,
    pub duration_s: Option<f64>,
    /// The uploader's display name, for the credit line.
    pub owner: String,
}

/// `uploads` matching at least one term, best first, as candidates of source `upload`.
pub fn rank_uploads(uploads: &[UploadDescriptor], terms: &[Term], want: &Want) -> Vec<Ranked> {
    rank(upload_candidates(uploads), terms, want, true)
}

/// `uploads` as candidates of source `upload`, unranked (the server offers uploads that have no
/// words of their own ranked by shape and size alone).
pub fn upload_candidates(uploads: &[UploadDescriptor]) -> Vec<Candidate> {
    uploads
        .iter()
        .map(|u| {
            let stem = std::path::Path::new(&u.file_name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let words = [Some(stem), u.description.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            Candidate {
                source: Source::Upload,
                id: u.id.clone(),
                kind: u.kind,
                width: u.width,
                height: u.height,
                duration_s: u.duration_s,
                words,
                location: u.id.clone(),
                size_bytes: None,
                preview_url: None,
                attribution: Attribution {
                    text: format!("Uploaded by {}", u.owner),
                    author: u.owner.clone(),
                    author_url: None,
                    source_url: None,
                    provider: "Upload".into(),
                    licence: "the uploader's own".into(),
                },
            }
        })
        .collect()
}
