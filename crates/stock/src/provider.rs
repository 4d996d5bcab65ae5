//! What Pexels and Pixabay share: the search (a few terms out, candidates back, ranked like
//! every other source) and the bounded download (size and length limits, nothing left on disk
//! when it is refused).
//!
//! Only the search words leave the server (P-TP-2): never the scene's text, the user's name or
//! an upload. The key goes only to the API's own origin, never to the CDN a file comes from.

use crate::error::StockError;
use crate::keywords::{self, Term};
use crate::rank::{self, Attribution, Candidate, MediaKind, Ranked, Source, Want};
use async_trait::async_trait;
use reelsmith_providers::http::Http;
use reelsmith_providers::ProviderError;
use std::path::{Path, PathBuf};

/// How many words a query carries at first; when that finds nothing, the heaviest word alone
/// is tried once more (providers match every word, so fewer words find more).
pub const QUERY_WORDS: usize = 3;
/// Pixabay's documented limit on `q`; Pexels takes the same comfortably.
pub const QUERY_MAX_CHARS: usize = 100;

/// The endpoint of a stock API: the public `default_base` with its file `hosts`, or the
/// operator's `base_url` (a proxy, or a test double), whose own host may then serve the files too
/// (Pixabay's files are another path of its host).
pub fn endpoint(
    default_base: &str,
    hosts: &[&str],
    key: reelsmith_providers::Secret,
    base_url: Option<&str>,
) -> Result<reelsmith_providers::http::Endpoint, ProviderError> {
    let ep = reelsmith_providers::http::Endpoint::new(base_url.unwrap_or(default_base), key)?;
    let own = base_url.and(ep.base_url.host_str().map(str::to_owned));
    let mut allowed: Vec<&str> = hosts.to_vec();
    allowed.extend(own.as_deref());
    Ok(ep.with_download_hosts(&allowed))
}

/// A stock photo and video API.
#[async_trait]
pub trait StockProvider: Send + Sync {
    fn source(&self) -> Source;

    /// The adapter's HTTP client (its endpoint, key and call policy).
    fn http(&self) -> &Http;

    /// One search request: the provider's results for `query` as candidates, unranked.
    async fn candidates(
        &self,
        query: &str,
        kind: MediaKind,
        want: &Want,
        per_page: u32,
    ) -> Result<Vec<Candidate>, StockError>;
}

/// Searches `provider` for pictures (or clips) for a scene whose terms are `terms`, and ranks
/// them. Nothing found, even with the heaviest word alone, is `stock.no_results`.
pub async fn search(
    provider: &dyn StockProvider,
    terms: &[Term],
    kind: MediaKind,
    want: &Want,
    per_page: u32,
) -> Result<Vec<Ranked>, StockError> {
    let query = keywords::query(terms, QUERY_WORDS, QUERY_MAX_CHARS);
    if query.is_empty() {
        return Err(StockError::NoTerms);
    }
    let mut found = provider.candidates(&query, kind, want, per_page).await?;
    if found.is_empty() && terms.len() > 1 {
        let single = keywords::query(&terms[..1], 1, QUERY_MAX_CHARS);
        found = provider.candidates(&single, kind, want, per_page).await?;
    }
    if found.is_empty() {
        return Err(StockError::NoResults {
            source_name: provider.source().name().into(),
            query,
        });
    }
    Ok(rank::rank(found, terms, want, false))
}

/// The operator's download limits (`[stock]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DownloadLimits {
    pub max_bytes: u64,
    pub max_clip_s: f64,
}

/// A file that arrived whole and within the limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Downloaded {
    pub path: PathBuf,
    pub bytes: u64,
    pub content_type: Option<String>,
    /// The clip's measured length (videos).
    pub duration_s: Option<f64>,
    pub attribution: Attribution,
}

/// Downloads candidate `c` of `provider` to `dest`. A clip said to be too long, or a file said
/// to be too large, is refused before anything is fetched; a file that turns out too large while
/// streaming, or a clip whose measured length is over the limit, is refused after. The bytes go
/// to a temporary file beside `dest`, renamed into place only when everything passed, so a
/// refused or failed download leaves nothing behind.
pub async fn download(
    provider: &dyn StockProvider,
    c: &Candidate,
    dest: &Path,
    limits: &DownloadLimits,
) -> Result<Downloaded, StockError> {
    let name = provider.source().name();
    if c.source != provider.source() {
        return Err(StockError::Io(format!(
            "a {} candidate cannot be downloaded from {name}",
            c.source.name()
        )));
    }
    let too_long = |seconds: f64| StockError::TooLong {
        source_name: name.into(),
        seconds,
        limit_s: limits.max_clip_s.ceil() as u64,
    };
    let too_large = || StockError::TooLarge {
        source_name: name.into(),
        limit_mib: limits.max_bytes.div_ceil(1 << 20),
    };
    if let Some(d) = c.duration_s.filter(|d| *d > limits.max_clip_s) {
        return Err(too_long(d));
    }
    if c.size_bytes.is_some_and(|s| s > limits.max_bytes) {
        return Err(too_large());
    }
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |e: std::io::Error| StockError::Io(e.to_string());
    let tmp = tempfile::Builder::new()
        .prefix(".stock-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(io)?;
    let mut file = tokio::fs::File::from_std(tmp.as_file().try_clone().map_err(io)?);
    let (bytes, content_type, _) = provider
        .http()
        .download(&c.location, &mut file, limits.max_bytes, None)
        .await
        .map_err(|e| match e {
            ProviderError::TooLarge { .. } => too_large(),
            other => StockError::Provider(other),
        })?;
    file.sync_all().await.map_err(io)?;
    drop(file);
    let measured = measure(tmp.path().to_path_buf(), c.kind, name).await?;
    if let Some(d) = measured.filter(|d| *d > limits.max_clip_s) {
        return Err(too_long(d));
    }
    tmp.persist(dest).map_err(|e| io(e.error))?;
    tracing::info!(source = name, id = %c.id, bytes, "stock file downloaded");
    Ok(Downloaded {
        path: dest.to_path_buf(),
        bytes,
        content_type,
        duration_s: measured,
        attribution: c.attribution.clone(),
    })
}

/// Checks that a downloaded file is what it claims: a picture that decodes its header, or a
/// clip with a video stream, whose length is returned.
async fn measure(
    path: PathBuf,
    kind: MediaKind,
    name: &'static str,
) -> Result<Option<f64>, StockError> {
    let malformed = move |detail: String| {
        StockError::Provider(ProviderError::Malformed {
            provider: name,
            detail,
        })
    };
    let joined = tokio::task::spawn_blocking(move || match kind {
        MediaKind::Photo => image::ImageReader::open(&path)
            .and_then(|r| r.with_guessed_format())
            .map_err(|e| e.to_string())
            .and_then(|r| r.into_dimensions().map_err(|e| e.to_string()))
            .map(|_| None)
            .map_err(|e| format!("the downloaded file is not a picture: {e}")),
        MediaKind::Video => {
            let info = reelsmith_media::probe::probe(&path)
                .map_err(|e| format!("the downloaded file is not a video: {e}"))?;
            if info.video().is_none() {
                return Err("the downloaded file has no video stream".to_string());
            }
            Ok(info.best_duration())
        }
    })
    .await
    .map_err(|e| StockError::Io(e.to_string()))?;
    joined.map_err(malformed)
}

/// The adapter of stock source `source` (Pexels or Pixabay) with the operator's key and base
/// URL; `None` for the library and uploads, which are not fetched over the network.
pub fn configured(
    source: Source,
    key: reelsmith_providers::Secret,
    base_url: Option<&str>,
) -> Result<Option<Box<dyn StockProvider>>, ProviderError> {
    use crate::{pexels, pixabay};
    Ok(match source {
        Source::Pexels => Some(Box::new(pexels::Pexels::new(endpoint(
            pexels::DEFAULT_BASE_URL,
            pexels::DOWNLOAD_HOSTS,
            key,
            base_url,
        )?)?)),
        Source::Pixabay => Some(Box::new(pixabay::Pixabay::new(endpoint(
            pixabay::DEFAULT_BASE_URL,
            pixabay::DOWNLOAD_HOSTS,
            key,
            base_url,
        )?)?)),
        Source::Library | Source::Upload => None,
    })
}
