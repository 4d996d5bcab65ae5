//! Pictures for scenes (issue 25, "Visuals per scene"): search terms from a scene's text
//! ([`keywords`]), the operator's licensed media library searched offline ([`library`]), the
//! user's own uploads ([`uploads`]), and Pexels and Pixabay stock search ([`pexels`],
//! [`pixabay`]), all ranked by one rule ([`rank`]) and each result carrying the attribution its
//! source asks for. Downloads are bounded in size and length and leave nothing behind when
//! refused ([`provider::download`]). See docs/stock.md.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod error;
pub mod keywords;
pub mod library;
pub mod pexels;
pub mod pixabay;
pub mod provider;
pub mod rank;
pub mod uploads;

pub use error::StockError;
pub use keywords::{extract, Term};
pub use library::Library;
pub use provider::{
    configured, download, endpoint, search, DownloadLimits, Downloaded, StockProvider,
};
pub use rank::{Attribution, Candidate, MediaKind, Ranked, Source, Want};
pub use uploads::{rank_uploads, upload_candidates, UploadDescriptor};
