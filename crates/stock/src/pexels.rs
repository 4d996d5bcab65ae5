//! Pexels (https://www.pexels.com/api/documentation/).
//!
//! `GET {base}/v1/search?query=&orientation=&per_page=&page=` answers
//! `{page, per_page, total_results, photos: [{id, width, height, url, photographer,
//! photographer_url, alt, src: {original, large2x, large, medium, small, portrait, landscape,
//! tiny}}], next_page}`; `GET {base}/videos/search` with the same parameters answers
//! `{videos: [{id, width, height, url, image, duration, user: {id, name, url}, video_files:
//! [{id, quality, file_type, width, height, fps, link}], video_pictures}]}`. Every request carries
//! `Authorization: <key>`; a wrong key is 401, too many requests 429 (Pexels sends its
//! `X-Ratelimit-*` headers on successful answers only; a `Retry-After`, when a proxy adds one, is
//! honoured by the shared call policy). Files come from `images.pexels.com` and
//! `videos.pexels.com`, fetched without the key. Pexels asks for "Photo by NAME on Pexels" with a
//! link to the photo's page, and a link to Pexels wherever results are shown.

use crate::error::StockError;
use crate::provider::StockProvider;
use crate::rank::{self, Attribution, Candidate, MediaKind, Source, Want};
use async_trait::async_trait;
use reelsmith_core::spec::Aspect;
use reelsmith_providers::http::{Endpoint, Http, Idempotent};
use reelsmith_providers::{ProviderError, Secret};
use serde::Deserialize;

pub const DEFAULT_BASE_URL: &str = "https://api.pexels.com";
pub const DOWNLOAD_HOSTS: &[&str] = &["images.pexels.com", "videos.pexels.com"];
/// Pexels' documented maximum of `per_page`.
pub const MAX_PER_PAGE: u32 = 80;

pub struct Pexels {
    http: Http,
}

impl Pexels {
    pub fn new(endpoint: Endpoint) -> Result<Self, ProviderError> {
        Ok(Pexels {
            http: Http::new("pexels", endpoint)?,
        })
    }

    /// The public API with Pexels' file hosts allowed for downloads.
    pub fn with_key(key: Secret) -> Result<Self, ProviderError> {
        Self::new(Endpoint::new(DEFAULT_BASE_URL, key)?.with_download_hosts(DOWNLOAD_HOSTS))
    }
}

#[derive(Deserialize)]
struct PhotoPage {
    #[serde(default)]
    photos: Vec<Photo>,
}

#[derive(Deserialize)]
struct Photo {
    id: u64,
    width: u32,
    height: u32,
    url: String,
    photographer: String,
    #[serde(default)]
    photographer_url: Option<String>,
    #[serde(default)]
    alt: Option<String>,
    src: PhotoSrc,
}

#[derive(Deserialize)]
struct PhotoSrc {
    original: String,
    #[serde(default)]
    tiny: Option<String>,
}

#[derive(Deserialize)]
struct VideoPage {
    #[serde(default)]
    videos: Vec<Video>,
}

#[derive(Deserialize)]
struct Video {
    id: u64,
    url: String,
    #[serde(default)]
    image: Option<String>,
    duration: f64,
    user: User,
    #[serde(default)]
    video_files: Vec<VideoFile>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct User {
    name: String,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct VideoFile {
    #[serde(default)]
    file_type: Option<String>,
    #[serde(default)]
    width: Option<u32>,
    #[serde(default)]
    height: Option<u32>,
    link: String,
}

/// The words of a Pexels page URL's slug: `.../photo/brown-rocks-at-dusk-2014422/` → "brown
/// rocks at dusk" (Pexels' own description of the picture).
fn slug_words(page: &str) -> String {
    let last = page
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    last.split('-')
        .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn orientation_param(aspect: Aspect) -> &'static str {
    match aspect {
        Aspect::Landscape => "landscape",
        Aspect::Portrait => "portrait",
        Aspect::Square => "square",
    }
}

/// The file of a video to fetch: the smallest MP4 that covers the frame without upscaling,
/// else the largest MP4 there is (HLS playlists and files without a size are skipped).
fn pick_file<'a>(files: &'a [VideoFile], want: &Want) -> Option<(&'a VideoFile, u32, u32)> {
    let (fw, fh) = want.frame();
    let mut mp4: Vec<(&VideoFile, u32, u32)> = files
        .iter()
        .filter(|f| f.file_type.as_deref() == Some("video/mp4"))
        .filter_map(|f| Some((f, f.width?, f.height?)))
        .filter(|(_, w, h)| *w > 0 && *h > 0)
        .collect();
    mp4.sort_by_key(|(_, w, h)| u64::from(*w) * u64::from(*h));
    mp4.iter()
        .find(|(_, w, h)| rank::scale_to_fill(*w, *h, fw, fh) <= 1.0)
        .or(mp4.last())
        .copied()
}

impl Pexels {
    fn photo(p: Photo) -> Candidate {
        let words = [p.alt.clone().unwrap_or_default(), slug_words(&p.url)].join(", ");
        Candidate {
            source: Source::Pexels,
            id: p.id.to_string(),
            kind: MediaKind::Photo,
            width: p.width,
            height: p.height,
            duration_s: None,
            words,
            location: p.src.original,
            size_bytes: None,
            preview_url: p.src.tiny,
            attribution: Attribution {
                text: format!("Photo by {} on Pexels", p.photographer),
                author: p.photographer,
                author_url: p.photographer_url,
                source_url: Some(p.url),
                provider: "Pexels".into(),
                licence: "Pexels License".into(),
            },
        }
    }

    fn video(v: Video, want: &Want) -> Option<Candidate> {
        let (file, width, height) = pick_file(&v.video_files, want)?;
        let mut words = vec![slug_words(&v.url)];
        words.extend(v.tags.iter().cloned());
        Some(Candidate {
            source: Source::Pexels,
            id: v.id.to_string(),
            kind: MediaKind::Video,
            width,
            height,
            duration_s: Some(v.duration),
            words: words.join(", "),
            location: file.link.clone(),
            size_bytes: None,
            preview_url: v.image,
            attribution: Attribution {
                text: format!("Video by {} on Pexels", v.user.name),
                author: v.user.name,
                author_url: v.user.url,
                source_url: Some(v.url),
                provider: "Pexels".into(),
                licence: "Pexels License".into(),
            },
        })
    }
}

#[async_trait]
impl StockProvider for Pexels {
    fn source(&self) -> Source {
        Source::Pexels
    }

    fn http(&self) -> &Http {
        &self.http
    }

    async fn candidates(
        &self,
        query: &str,
        kind: MediaKind,
        want: &Want,
        per_page: u32,
    ) -> Result<Vec<Candidate>, StockError> {
        let path = match kind {
            MediaKind::Photo => "v1/search",
            MediaKind::Video => "videos/search",
        };
        let mut url = self.http.url(path)?;
        url.query_pairs_mut()
            .append_pair("query", query)
            .append_pair("orientation", orientation_param(want.aspect))
            .append_pair("per_page", &per_page.clamp(1, MAX_PER_PAGE).to_string())
            .append_pair("page", "1");
        let key = self.http.ep.key.expose().to_string();
        let build = |c: &reqwest::Client| c.get(url.clone()).header("Authorization", &key);
        Ok(match kind {
            MediaKind::Photo => {
                let (page, _): (PhotoPage, _) = self
                    .http
                    .send_json("search", Idempotent::Yes, &build)
                    .await?;
                page.photos.into_iter().map(Self::photo).collect()
            }
            MediaKind::Video => {
                let (page, _): (VideoPage, _) = self
                    .http
                    .send_json("search", Idempotent::Yes, &build)
                    .await?;
                page.videos
                    .into_iter()
                    .filter_map(|v| Self::video(v, want))
                    .collect()
            }
        })
    }
}
