//! Pixabay (https://pixabay.com/api/docs/).
//!
//! `GET {base}/api/?key=&q=&image_type=photo&orientation=&safesearch=true&per_page=&page=`
//! answers `{total, totalHits, hits: [{id, pageURL, type, tags, previewURL, webformatURL,
//! largeImageURL, imageWidth, imageHeight, imageSize, user_id, user, userImageURL, ...}]}`, where
//! `largeImageURL` is the picture scaled to at most 1280 px on its longer side;
//! `GET {base}/api/videos/?key=&q=&video_type=film&safesearch=true&per_page=&page=` answers
//! `{total, totalHits, hits: [{id, pageURL, type, tags, duration, videos: {large, medium,
//! small, tiny: {url, width, height, size, thumbnail}}, user_id, user, userImageURL, ...}]}`,
//! where a rendition Pixabay does not have comes with an empty `url` and a zero size. `q` is at
//! most 100 characters; `per_page` is 3 to 200.
//!
//! The key is a query parameter (Pixabay has no header for it), so the URL itself is secret: the
//! shared client never puts a URL in an error, and every answer is redacted. A wrong key is
//! answered `400` with a plain-text `[ERROR 400] Invalid API key`, which is read here as a refused
//! key (`provider.unauthorized`), not as a bad request; too many requests is `429` (100 per
//! 60 s). Files come from `cdn.pixabay.com` and `pixabay.com/get/`, fetched without the key.
//! Pixabay asks that results show where they come from: "Image by NAME from Pixabay".

use crate::error::StockError;
use crate::provider::StockProvider;
use crate::rank::{self, Attribution, Candidate, MediaKind, Source, Want};
use async_trait::async_trait;
use reelsmith_core::spec::Aspect;
use reelsmith_providers::http::{Endpoint, Http, Idempotent};
use reelsmith_providers::{ProviderError, Secret};
use serde::Deserialize;

pub const DEFAULT_BASE_URL: &str = "https://pixabay.com/api/";
pub const DOWNLOAD_HOSTS: &[&str] = &["cdn.pixabay.com", "pixabay.com"];
/// The longer side of `largeImageURL`.
const LARGE_IMAGE_MAX: u32 = 1280;

pub struct Pixabay {
    http: Http,
}

impl Pixabay {
    pub fn new(endpoint: Endpoint) -> Result<Self, ProviderError> {
        Ok(Pixabay {
            http: Http::new("pixabay", endpoint)?,
        })
    }

    /// The public API with Pixabay's file hosts allowed for downloads.
    pub fn with_key(key: Secret) -> Result<Self, ProviderError> {
        Self::new(Endpoint::new(DEFAULT_BASE_URL, key)?.with_download_hosts(DOWNLOAD_HOSTS))
    }
}

#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    hits: Vec<T>,
}

#[derive(Deserialize)]
struct ImageHit {
    id: u64,
    #[serde(rename = "pageURL")]
    page_url: String,
    #[serde(default)]
    tags: String,
    #[serde(rename = "largeImageURL")]
    large_image_url: String,
    #[serde(rename = "previewURL", default)]
    preview_url: Option<String>,
    #[serde(rename = "imageWidth")]
    image_width: u32,
    #[serde(rename = "imageHeight")]
    image_height: u32,
    user: String,
    user_id: u64,
}

#[derive(Deserialize)]
struct VideoHit {
    id: u64,
    #[serde(rename = "pageURL")]
    page_url: String,
    #[serde(default)]
    tags: String,
    duration: f64,
    videos: Renditions,
    user: String,
    user_id: u64,
}

#[derive(Deserialize)]
struct Renditions {
    #[serde(default)]
    large: Option<Rendition>,
    #[serde(default)]
    medium: Option<Rendition>,
    #[serde(default)]
    small: Option<Rendition>,
    #[serde(default)]
    tiny: Option<Rendition>,
}

#[derive(Deserialize, Clone)]
struct Rendition {
    url: String,
    width: u32,
    height: u32,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    thumbnail: Option<String>,
}

/// Reads Pixabay's refused-key answer (a 400, not a 401) as a refused key.
fn classify(status: u16, _: &reqwest::header::HeaderMap, body: &str) -> Option<ProviderError> {
    (status == 400 && body.to_ascii_lowercase().contains("api key")).then_some(
        ProviderError::Unauthorized {
            provider: "pixabay",
            status,
        },
    )
}

/// The size of `largeImageURL` for a `w` × `h` original.
fn large_size(w: u32, h: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= LARGE_IMAGE_MAX {
        return (w, h);
    }
    let scale = |x: u32| ((u64::from(x) * u64::from(LARGE_IMAGE_MAX)) / u64::from(long)) as u32;
    (scale(w), scale(h))
}

fn author_url(user: &str, user_id: u64) -> String {
    format!("https://pixabay.com/users/{user}-{user_id}/")
}

fn attribution(what: &str, user: String, user_id: u64, page: String) -> Attribution {
    Attribution {
        text: format!("{what} by {user} from Pixabay"),
        author_url: Some(author_url(&user, user_id)),
        author: user,
        source_url: Some(page),
        provider: "Pixabay".into(),
        licence: "Pixabay Content License".into(),
    }
}

impl Pixabay {
    fn image(h: ImageHit) -> Candidate {
        let (width, height) = large_size(h.image_width, h.image_height);
        Candidate {
            source: Source::Pixabay,
            id: h.id.to_string(),
            kind: MediaKind::Photo,
            width,
            height,
            duration_s: None,
            words: h.tags,
            location: h.large_image_url,
            size_bytes: None,
            preview_url: h.preview_url,
            attribution: attribution("Image", h.user, h.user_id, h.page_url),
        }
    }

    /// The smallest rendition that covers the frame without upscaling, else the largest.
    fn video(h: VideoHit, want: &Want) -> Option<Candidate> {
        let (fw, fh) = want.frame();
        let v = &h.videos;
        let mut have: Vec<Rendition> = [&v.tiny, &v.small, &v.medium, &v.large]
            .into_iter()
            .flatten()
            .filter(|r| !r.url.is_empty() && r.width > 0 && r.height > 0)
            .cloned()
            .collect();
        have.sort_by_key(|r| u64::from(r.width) * u64::from(r.height));
        let pick = have
            .iter()
            .find(|r| rank::scale_to_fill(r.width, r.height, fw, fh) <= 1.0)
            .or(have.last())?
            .clone();
        Some(Candidate {
            source: Source::Pixabay,
            id: h.id.to_string(),
            kind: MediaKind::Video,
            width: pick.width,
            height: pick.height,
            duration_s: Some(h.duration),
            words: h.tags,
            location: pick.url,
            size_bytes: (pick.size > 0).then_some(pick.size),
            preview_url: pick.thumbnail,
            attribution: attribution("Video", h.user, h.user_id, h.page_url),
        })
    }
}

#[async_trait]
impl StockProvider for Pixabay {
    fn source(&self) -> Source {
        Source::Pixabay
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
        let mut url = self.http.url(match kind {
            MediaKind::Photo => "",
            MediaKind::Video => "videos/",
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("key", self.http.ep.key.expose())
                .append_pair("q", query)
                .append_pair("safesearch", "true")
                .append_pair("per_page", &per_page.clamp(3, 200).to_string())
                .append_pair("page", "1");
            match kind {
                MediaKind::Photo => {
                    let orientation = match want.aspect {
                        Aspect::Landscape => "horizontal",
                        Aspect::Portrait => "vertical",
                        Aspect::Square => "all",
                    };
                    q.append_pair("image_type", "photo")
                        .append_pair("orientation", orientation);
                }
                MediaKind::Video => {
                    q.append_pair("video_type", "film");
                }
            }
        }
        let build = |c: &reqwest::Client| c.get(url.clone());
        Ok(match kind {
            MediaKind::Photo => {
                let (page, _): (Page<ImageHit>, _) = self
                    .http
                    .send_json_classified("search", Idempotent::Yes, &build, &classify)
                    .await?;
                page.hits.into_iter().map(Self::image).collect()
            }
            MediaKind::Video => {
                let (page, _): (Page<VideoHit>, _) = self
                    .http
                    .send_json_classified("search", Idempotent::Yes, &build, &classify)
                    .await?;
                page.hits
                    .into_iter()
                    .filter_map(|h| Self::video(h, want))
                    .collect()
            }
        })
    }
}
