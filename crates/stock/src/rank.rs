//! What a picture or clip for a scene is, whatever its source, and the one ranking every source
//! uses (D-stock-2): first how well its words match the scene's terms, then whether its shape
//! matches the job's frame, then whether it is at least the job's resolution, then (clips only)
//! whether it lasts at least as long as the scene; ties break by source and id so the order
//! never changes between runs.

use crate::keywords::{normalise, Term};
use reelsmith_core::spec::{Aspect, Resolution};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Photo,
    Video,
}

/// Where a candidate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The operator's media library folder.
    Library,
    /// One of the user's own uploads.
    Upload,
    Pexels,
    Pixabay,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Library => "library",
            Source::Upload => "upload",
            Source::Pexels => "pexels",
            Source::Pixabay => "pixabay",
        }
    }
}

/// Who made a picture and where it came from, in the form its source asks to be credited
/// (Pexels: "Photo by NAME on Pexels" linking the photo's page; Pixabay: "Image by NAME from
/// Pixabay"; the library: its sidecar's author and licence). Stored with the job, shown on the
/// job page and written into the video's description file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// The credit line as the source's terms word it.
    pub text: String,
    pub author: String,
    /// The author's page at the source, when it has one.
    pub author_url: Option<String>,
    /// The picture's own page (Pexels/Pixabay) or the library entry's source link.
    pub source_url: Option<String>,
    /// "Pexels", "Pixabay", or the library's licence holder's source.
    pub provider: String,
    /// The licence's name ("Pexels License", "Pixabay Content License", or the sidecar's).
    pub licence: String,
}

/// One picture or clip that could illustrate a scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub source: Source,
    /// The source's id: the library file's path in the folder, the upload id, or the
    /// provider's numeric id.
    pub id: String,
    pub kind: MediaKind,
    pub width: u32,
    pub height: u32,
    /// Seconds, for clips.
    pub duration_s: Option<f64>,
    /// The words a search matches: tags, title, description (or a provider's alt text).
    pub words: String,
    /// Where the file is: a URL for stock, a path inside the library folder, an upload id.
    pub location: String,
    /// The file's size when the source tells it before the download (Pixabay videos).
    pub size_bytes: Option<u64>,
    /// A small preview for the storyboard, when the source offers one.
    pub preview_url: Option<String>,
    pub attribution: Attribution,
}

/// What the job needs from a scene's picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Want {
    pub aspect: Aspect,
    pub resolution: Resolution,
    /// How long the scene lasts on screen.
    pub scene_s: f64,
}

impl Want {
    pub fn frame(&self) -> (u32, u32) {
        let f = self.resolution.frame_size(self.aspect);
        (f.width, f.height)
    }
}

/// The shape of a `width` × `height` picture, with ±10 % counted as square.
pub fn orientation(width: u32, height: u32) -> Aspect {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let r = w / h;
    if r > 1.1 {
        Aspect::Landscape
    } else if r < 1.0 / 1.1 {
        Aspect::Portrait
    } else {
        Aspect::Square
    }
}

/// How a candidate scored; compared field by field, in this order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// The summed weights of the terms its words contain.
    pub terms: f64,
    pub orientation: bool,
    pub resolution: bool,
    /// True for photos (they last as long as needed).
    pub length: bool,
}

impl Score {
    fn cmp_desc(&self, other: &Score) -> Ordering {
        other
            .terms
            .total_cmp(&self.terms)
            .then(other.orientation.cmp(&self.orientation))
            .then(other.resolution.cmp(&self.resolution))
            .then(other.length.cmp(&self.length))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub candidate: Candidate,
    pub score: Score,
}

/// How `c` meets `want` and matches `terms`.
pub fn score(c: &Candidate, terms: &[Term], want: &Want) -> Score {
    let words = normalise(&c.words);
    let terms_score: f64 = terms
        .iter()
        .filter(|t| words.contains(&t.word))
        .map(|t| t.weight)
        .sum();
    let (fw, fh) = want.frame();
    // A picture must cover the frame once scaled to fill it (cropping the rest), so the job's
    // resolution is met when filling needs no upscaling.
    let covers = scale_to_fill(c.width, c.height, fw, fh) <= 1.0;
    Score {
        terms: (terms_score * 1000.0).round() / 1000.0,
        orientation: orientation(c.width, c.height) == want.aspect,
        resolution: covers,
        length: match (c.kind, c.duration_s) {
            (MediaKind::Photo, _) => true,
            (MediaKind::Video, Some(d)) => d + 1e-6 >= want.scene_s,
            (MediaKind::Video, None) => false,
        },
    }
}

/// The factor a `w` × `h` picture is scaled by to fill a `fw` × `fh` frame (above 1: upscaled).
pub(crate) fn scale_to_fill(w: u32, h: u32, fw: u32, fh: u32) -> f64 {
    let sx = f64::from(fw) / f64::from(w.max(1));
    let sy = f64::from(fh) / f64::from(h.max(1));
    sx.max(sy)
}

/// Candidates best first. With `require_terms`, those matching no term are dropped: a library or
/// an upload list is searched by its words alone, while a provider already matched its results
/// to the query.
pub fn rank(
    candidates: Vec<Candidate>,
    terms: &[Term],
    want: &Want,
    require_terms: bool,
) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = candidates
        .into_iter()
        .map(|candidate| Ranked {
            score: score(&candidate, terms, want),
            candidate,
        })
        .filter(|r| !require_terms || r.score.terms > 0.0)
        .collect();
    ranked.sort_by(|a, b| {
        a.score
            .cmp_desc(&b.score)
            .then_with(|| a.candidate.source.cmp(&b.candidate.source))
            .then_with(|| a.candidate.id.cmp(&b.candidate.id))
    });
    ranked
}
