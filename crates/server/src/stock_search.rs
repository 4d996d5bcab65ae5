//! Pictures for a storyboard's scenes (issue 25): `GET
//! /api/v1/jobs/{id}/storyboard/scenes/{n}/pictures` searches the operator's media library, the
//! caller's own uploads and, when the operator configured them and the caller consented,
//! Pexels and Pixabay, and answers the candidates ranked by one rule, each with its credit line.
//!
//! The search words come from the operator's chat model when there is one and the caller
//! consented to it (the scene's text goes to it, logged first), else from local keyword
//! extraction (`keywords::extract`), which is also the fallback when the model fails. Nothing
//! leaves while the caller paused processing (P-RIGHTS-4) or a policy change waits for their
//! acceptance (P-COMM-2): then only the library and their uploads are searched.
//!
//! Every candidate offered is kept (`stock_offers`, migration 0027) under an id of ours, the
//! `pick`; a scene names a stock picture only by that id, resolved here for the same draft and
//! owner ([`resolve_picks`]), so a client can neither make the worker fetch a URL of its choosing
//! nor use another user's pick. Only the search words leave (P-TP-3); each search is logged
//! before it leaves (P-TP-4) and its answer kept for 24 hours (D-stockwire-2): the same search
//! again is answered from memory and nothing is sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use reelsmith_config::{ProvidersConfig, StockConfig};
use reelsmith_core::{Code, ErrorCode};
use reelsmith_jobs::{call_policy, script_writer, StoredPlan, Storyboard, StoryboardError, Visual};
use reelsmith_providers::http::Http;
use reelsmith_providers::ScriptWriter;
use reelsmith_stock::{
    Attribution, Candidate, Library, MediaKind, Ranked, Source, StockError, StockProvider, Term,
    UploadDescriptor, Want,
};
use reelsmith_store::{now_ms, Db, Page, UploadKind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, ClientInfo, CurrentUser};
use crate::providers::ASSISTANT;
use crate::AppState;

/// How long a provider's answer to one query is reused (Pixabay asks for 24 hours).
pub const CACHE_FOR: Duration = Duration::from_secs(24 * 60 * 60);
/// Most answers kept in memory; the oldest goes first beyond it.
const CACHE_ENTRIES: usize = 5_000;
/// Most results one search answers, all sources together.
pub const MAX_RESULTS: usize = 30;
/// Search words taken from a scene's text.
const TERMS: usize = 6;
/// The caller's uploads looked at (newest first).
const UPLOADS_LOOKED_AT: u32 = 100;

/// The stock providers' names, which are also the consents' (P-TP-2).
pub const STOCK_PROVIDERS: [&str; 2] = ["pexels", "pixabay"];

pub fn is_stock_provider(name: &str) -> bool {
    STOCK_PROVIDERS.contains(&name)
}

/// Whether the operator gave stock provider `name` a key.
pub fn stock_configured(config: &StockConfig, name: &str) -> bool {
    match name {
        "pexels" => config.pexels_key.is_some(),
        "pixabay" => config.pixabay_key.is_some(),
        _ => false,
    }
}

type CacheKey = (Source, MediaKind, String, String, u32);
/// A chat model's search words are kept per model and scene text.
type TermsKey = (String, String);

/// The picture sources of this server, opened at start: the indexed media library and the
/// configured stock adapters, with the answers cache.
pub struct StockSources {
    pub library: Option<Library>,
    providers: Vec<Box<dyn StockProvider>>,
    /// The operator's chat model, which chooses search words for consenting callers; built
    /// once here, not per search.
    writer: Option<(String, Arc<dyn ScriptWriter>)>,
    per_page: u32,
    cache: DayCache<CacheKey, Vec<Candidate>>,
    terms: DayCache<TermsKey, Vec<String>>,
}

impl StockSources {
    /// Indexes `[stock] library` (a library that cannot be opened is logged and left out:
    /// `reelsmith config check` names its problems) and builds the keyed adapters and the chat
    /// model's client.
    pub fn from_config(config: &StockConfig, chat: &ProvidersConfig) -> StockSources {
        let library = config
            .library
            .as_deref()
            .and_then(|root| match Library::index(root) {
                Ok(library) => {
                    tracing::info!(
                        items = library.items.len(),
                        rejected = library.rejected.len(),
                        "media library indexed"
                    );
                    Some(library)
                }
                Err(e) => {
                    tracing::error!(code = %e.code(), error = %e, "the media library cannot be opened: it is not offered");
                    None
                }
            });
        let mut providers = Vec::new();
        for (source, key, base) in [
            (Source::Pexels, &config.pexels_key, &config.pexels_base_url),
            (
                Source::Pixabay,
                &config.pixabay_key,
                &config.pixabay_base_url,
            ),
        ] {
            let Some(key) = key else { continue };
            let key = reelsmith_providers::Secret::new(key.expose().clone());
            match reelsmith_stock::configured(source, key, base.as_deref()) {
                Ok(Some(p)) => providers.push(p),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(source = source.name(), code = %e.code(), error = %e, "stock provider unusable")
                }
            }
        }
        let writer = match script_writer(chat, &call_policy(chat)) {
            Ok(writer) => writer.map(|w| (chat.openai.chat_model.clone().unwrap_or_default(), w)),
            Err(e) => {
                tracing::error!(code = %e.code(), error = %e, "the chat model is unusable: it chooses no search words");
                None
            }
        };
        StockSources {
            library,
            providers,
            writer,
            per_page: config.results_per_search,
            cache: DayCache::new(),
            terms: DayCache::new(),
        }
    }

    fn provider(&self, source: Source) -> Option<&dyn StockProvider> {
        self.providers
            .iter()
            .find(|p| p.source() == source)
            .map(|p| p.as_ref())
    }
}

/// Answers kept for [`CACHE_FOR`], at most [`CACHE_ENTRIES`] of them (the oldest goes first).
struct DayCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> DayCache<K, V> {
    fn new() -> Self {
        DayCache {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < CACHE_FOR)
            .map(|(_, value)| value.clone())
    }

    fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (at, _)| at.elapsed() < CACHE_FOR);
        if entries.len() >= CACHE_ENTRIES {
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (Instant::now(), value));
    }
}

/// A stock adapter seen through the cache and the transfer log: a query answered within 24
/// hours is not sent again; one that is sent is logged first, under the draft.
struct Outbound<'a> {
    inner: &'a dyn StockProvider,
    sources: &'a StockSources,
    db: &'a Db,
    owner: &'a str,
    draft: &'a str,
}

#[async_trait]
impl StockProvider for Outbound<'_> {
    fn source(&self) -> Source {
        self.inner.source()
    }

    fn http(&self) -> &Http {
        self.inner.http()
    }

    async fn candidates(
        &self,
        query: &str,
        kind: MediaKind,
        want: &Want,
        per_page: u32,
    ) -> Result<Vec<Candidate>, StockError> {
        let orientation = format!("{:?}", want.aspect).to_lowercase();
        let key = (
            self.source(),
            kind,
            query.to_owned(),
            orientation.clone(),
            per_page,
        );
        if let Some(found) = self.sources.cache.get(&key) {
            return Ok(found);
        }
        let store = |e: reelsmith_store::StoreError| StockError::Io(e.to_string());
        let sent = json!({ "search words": query, "orientation": orientation, "kind": kind });
        let model = match kind {
            MediaKind::Photo => "photo search",
            MediaKind::Video => "video search",
        };
        let id = self
            .db
            .log_draft_transfer(
                self.owner,
                self.draft,
                self.source().name(),
                model,
                "stock_search",
                &sent,
                now_ms(),
            )
            .await
            .map_err(store)?;
        let found = self.inner.candidates(query, kind, want, per_page).await;
        let outcome = match &found {
            Ok(_) => "delivered",
            Err(e) => e.code().as_str(),
        };
        self.db
            .transfer_answered(&id, outcome, now_ms())
            .await
            .map_err(store)?;
        if let Ok(found) = &found {
            self.sources.cache.put(key, found.clone());
        }
        found
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PicturesQuery {
    /// `all` (the default: the library, your uploads, and each stock provider you consented
    /// to), or one of `library`, `uploads`, `pexels`, `pixabay`.
    pub source: Option<String>,
    /// What the stock providers are asked for: `photo` (the default) or `video`. The library
    /// and uploads offer both.
    pub kind: Option<String>,
}

/// One picture or clip offered for the scene.
#[derive(Serialize, ToSchema)]
pub struct PictureView {
    /// What a scene names to show it: `{"kind": "stock", "pick": …}`. Valid for this
    /// storyboard and its owner only.
    pub pick: String,
    /// `library`, `upload`, `pexels` or `pixabay`.
    pub source: String,
    /// `photo` or `video`.
    pub kind: String,
    pub width: u32,
    pub height: u32,
    pub duration_s: Option<f64>,
    /// A small preview, when the source has one.
    pub preview_url: Option<String>,
    /// The credit line and links its source asks for (shown with the video once used).
    #[schema(value_type = Object)]
    pub credit: Attribution,
}

/// A source that was not searched, and why.
#[derive(Serialize, ToSchema)]
pub struct SkippedSource {
    pub source: String,
    /// `consent.required`, `stock.no_results`, `provider.unavailable`, …
    pub code: String,
    pub detail: String,
}

#[derive(Serialize, ToSchema)]
pub struct PicturesView {
    pub scene: usize,
    /// The search words, heaviest first (only these leave for a stock provider).
    pub terms: Vec<String>,
    /// Who chose them: `chat` (the operator's chat model, which was sent the scene's text) or
    /// `local` (keyword extraction on this server).
    pub terms_from: String,
    /// Best first.
    pub results: Vec<PictureView>,
    /// The sources asked about but not searched or that failed (with `source=all`).
    pub skipped: Vec<SkippedSource>,
}

fn stock_error(e: &StockError) -> ApiError {
    match e {
        StockError::Provider(p) => ApiError::of(p.code(), p.to_string()),
        other => ApiError::from_code(other, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

fn consent_missing(name: &str) -> ApiError {
    ApiError::of(
        Code::ConsentRequired,
        format!(
            "searching {name} sends the scene's search words to that company: give your \
             consent for `{name}` on the AI providers page first"
        ),
    )
}

/// Which sources a `source=` asks for: (library, uploads, stock providers).
fn wanted_sources(source: Option<&str>) -> ApiResult<(bool, bool, Vec<Source>, bool)> {
    Ok(match source.unwrap_or("all") {
        "all" => (true, true, vec![Source::Pexels, Source::Pixabay], false),
        "library" => (true, false, vec![], true),
        "uploads" => (false, true, vec![], true),
        "pexels" => (false, false, vec![Source::Pexels], true),
        "pixabay" => (false, false, vec![Source::Pixabay], true),
        other => {
            return Err(ApiError::of(
                Code::RequestInvalidQuery,
                format!("`source` is all, library, uploads, pexels or pixabay, not `{other}`"),
            ))
        }
    })
}

/// The caller's image and video uploads as candidates (they have no words of their own, so
/// they are ranked by shape and size).
async fn upload_candidates(state: &AppState, caller: &CurrentUser) -> ApiResult<Vec<Candidate>> {
    let page = Page {
        limit: UPLOADS_LOOKED_AT,
        before: None,
    };
    let uploads = state.db.list_uploads(caller.id(), &page).await?;
    let descriptors: Vec<UploadDescriptor> = uploads
        .iter()
        .filter_map(|u| {
            let kind = match u.kind {
                UploadKind::Image => MediaKind::Photo,
                UploadKind::Video => MediaKind::Video,
                UploadKind::Audio => return None,
            };
            Some(UploadDescriptor {
                id: u.id.clone(),
                file_name: String::new(),
                description: None,
                kind,
                width: u.width.unwrap_or(0).max(0) as u32,
                height: u.height.unwrap_or(0).max(0) as u32,
                duration_s: u.duration_ms.map(|ms| ms as f64 / 1000.0),
                owner: caller.user.display_name.clone(),
            })
        })
        .collect();
    Ok(reelsmith_stock::upload_candidates(&descriptors))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/storyboard/scenes/{n}/pictures", tag = "storyboards",
    params(("id" = String, Path), ("n" = usize, Path, description = "the scene's index, from 0"), PicturesQuery),
    responses((status = 200, body = PicturesView, description = "ranked candidates; each `pick` can be put in the scene as `{\"kind\": \"stock\", \"pick\": …}`"),
        (status = 404, body = Problem, description = "no such draft or scene among yours"),
        (status = 409, body = Problem, description = "`consent.required` (a stock provider named in `source`), `storyboard.rendered`"),
        (status = 422, body = Problem, description = "`stock.no_results`, `stock.no_terms`, `stock.source_unavailable`"),
        (status = 502, body = Problem, description = "the stock provider failed (`provider.unavailable`, `provider.rate_limited`, …); nothing was changed or charged")))]
pub async fn search(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path((id, n)): Path<(String, usize)>,
    ApiQuery(query): ApiQuery<PicturesQuery>,
) -> ApiResult<Json<PicturesView>> {
    let (with_library, with_uploads, stock, explicit) = wanted_sources(query.source.as_deref())?;
    let kind = match query.kind.as_deref().unwrap_or("photo") {
        "photo" => MediaKind::Photo,
        "video" => MediaKind::Video,
        other => {
            return Err(ApiError::of(
                Code::RequestInvalidQuery,
                format!("`kind` is photo or video, not `{other}`"),
            ))
        }
    };
    let Some(draft) = state.db.storyboard_for_owner(caller.id(), &id).await? else {
        return Err(crate::storyboards::gone(&state, &caller, &client, &id).await);
    };
    let spec: reelsmith_core::RenderSpec = serde_json::from_value(draft.params.clone())
        .map_err(|e| ApiError::of(Code::SpecInvalid, e.to_string()))?;
    let board: Storyboard = serde_json::from_value(draft.storyboard.clone())
        .map_err(|e| ApiError::of(Code::StoryboardInvalid, e.to_string()))?;
    let scene = board
        .scenes
        .get(n)
        .ok_or_else(|| ApiError::not_found("scene"))?;
    let mut skipped = Vec::new();
    // Whether anything may leave for a third party now (P-RIGHTS-4, P-COMM-2).
    let held_back = held_back(&state, &caller).await?;
    let searched_by_words = with_library || !stock.is_empty();
    let (terms, terms_from) = if searched_by_words && held_back.is_none() {
        scene_terms(&state, &caller, &draft.id, &scene.text, &mut skipped).await?
    } else {
        (reelsmith_stock::extract(&scene.text, TERMS), "local")
    };
    if terms.is_empty() {
        return Err(stock_error(&StockError::NoTerms));
    }
    let want = Want {
        aspect: spec.aspect,
        resolution: spec.resolution,
        scene_s: board.seconds(&spec)[n],
    };
    let sources = &state.stock;
    let mut found: Vec<Candidate> = Vec::new();
    if with_library {
        match &sources.library {
            Some(library) => found.extend(strip(library.search(&terms, &want))),
            None if explicit => {
                return Err(ApiError::of(
                    Code::StockSourceUnavailable,
                    "this server has no media library",
                ))
            }
            None => {}
        }
    }
    if with_uploads {
        found.extend(upload_candidates(&state, &caller).await?);
    }
    for source in stock {
        let name = source.name();
        let Some(provider) = sources.provider(source) else {
            if explicit {
                return Err(ApiError::of(
                    Code::StockSourceUnavailable,
                    format!("{name} is not configured on this server"),
                ));
            }
            continue;
        };
        if let Some(e) = &held_back {
            if explicit {
                return Err(e.clone());
            }
            skipped.push(SkippedSource {
                source: name.into(),
                code: e.code.as_str().into(),
                detail: e.detail.clone(),
            });
            continue;
        }
        if state.db.active_consent(caller.id(), name).await?.is_none() {
            let e = consent_missing(name);
            if explicit {
                return Err(e);
            }
            skipped.push(SkippedSource {
                source: name.into(),
                code: e.code.as_str().into(),
                detail: e.detail,
            });
            continue;
        }
        let outbound = Outbound {
            inner: provider,
            sources,
            db: &state.db,
            owner: caller.id(),
            draft: &draft.id,
        };
        match reelsmith_stock::search(&outbound, &terms, kind, &want, sources.per_page).await {
            Ok(ranked) => found.extend(strip(ranked)),
            Err(e) if explicit => return Err(stock_error(&e)),
            Err(e) => {
                tracing::warn!(source = name, code = %e.code(), error = %e, "stock search failed");
                skipped.push(SkippedSource {
                    source: name.into(),
                    code: e.code().as_str().into(),
                    detail: e.to_string(),
                });
            }
        }
    }
    // A file the worker would refuse to download is not offered: picking it would only fail
    // the render (the worker still checks, for offers made before a limit was lowered).
    found.retain(|c| downloadable(&state.config.stock, c));
    let ranked = reelsmith_stock::rank::rank(found, &terms, &want, false);
    if ranked.is_empty() {
        return Err(stock_error(&StockError::NoResults {
            source_name: query.source.unwrap_or_else(|| "all".into()),
            query: reelsmith_stock::keywords::query(&terms, 3, 100),
        }));
    }
    let offered: Vec<Candidate> = strip(ranked).into_iter().take(MAX_RESULTS).collect();
    let rows = offered
        .iter()
        .map(|c| {
            serde_json::to_value(c)
                .map(|v| (c.source.name().to_owned(), v))
                .map_err(|e| ApiError::fault(Code::SpecSerialise, &e))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let picks = state
        .db
        .add_stock_offers(caller.id(), &draft.id, n as i64, &rows, now_ms())
        .await?;
    let results = offered
        .iter()
        .zip(picks)
        .map(|(c, pick)| PictureView {
            preview_url: preview_path(&draft.id, &pick, c),
            pick,
            source: c.source.name().into(),
            kind: match c.kind {
                MediaKind::Photo => "photo",
                MediaKind::Video => "video",
            }
            .into(),
            width: c.width,
            height: c.height,
            duration_s: c.duration_s,
            credit: c.attribution.clone(),
        })
        .collect();
    Ok(Json(PicturesView {
        scene: n,
        terms: terms.iter().map(|t: &Term| t.word.clone()).collect(),
        terms_from: terms_from.into(),
        results,
        skipped,
    }))
}

/// Whether a candidate is within the operator's download limits, as far as its source says
/// (library files and uploads are not downloaded).
fn downloadable(limits: &StockConfig, c: &Candidate) -> bool {
    if !matches!(c.source, Source::Pexels | Source::Pixabay) {
        return true;
    }
    let max_bytes = limits.max_download_mib.saturating_mul(1 << 20);
    c.duration_s
        .is_none_or(|d| d <= limits.max_clip_seconds as f64)
        && c.size_bytes.is_none_or(|b| b <= max_bytes)
}

/// Why nothing may leave for a third party now, if so: the caller paused processing
/// (P-RIGHTS-4) or a policy change waits for their acceptance (P-COMM-2).
async fn held_back(state: &AppState, caller: &CurrentUser) -> ApiResult<Option<ApiError>> {
    if caller.user.processing_paused {
        return Ok(Some(ApiError::of(
            Code::ProcessingPaused,
            "you paused all processing of your data: nothing is sent to a stock provider or a \
             chat model until you resume it on the Account page",
        )));
    }
    Ok(crate::policies::require_accepted(state, caller.id())
        .await
        .err())
}

/// A scene's search words, and who chose them. The operator's chat model does when one is
/// configured and the caller consented to it (P-TP-2): the scene's text is logged under the
/// draft (P-TP-4), sent, and the answer kept for a day like a stock answer, so the same text
/// again sends nothing. Otherwise, or when the model fails (noted in `skipped`, with the
/// transfer marked failed), keyword extraction here chooses them and nothing leaves.
async fn scene_terms(
    state: &AppState,
    caller: &CurrentUser,
    draft_id: &str,
    text: &str,
    skipped: &mut Vec<SkippedSource>,
) -> ApiResult<(Vec<Term>, &'static str)> {
    let local = || (reelsmith_stock::extract(text, TERMS), "local");
    let Some((model, writer)) = &state.stock.writer else {
        return Ok(local());
    };
    if state
        .db
        .active_consent(caller.id(), ASSISTANT)
        .await?
        .is_none()
    {
        return Ok(local());
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let key = (model.clone(), text.clone());
    let chosen = |words: &[String]| reelsmith_stock::keywords::from_phrases(words, TERMS);
    if let Some(words) = state.stock.terms.get(&key) {
        return Ok((chosen(&words), "chat"));
    }
    let sent = json!({ "scene text chars": text.chars().count() });
    let id = state
        .db
        .log_draft_transfer(
            caller.id(),
            draft_id,
            ASSISTANT,
            model,
            "stock_terms",
            &sent,
            now_ms(),
        )
        .await?;
    let answer = writer.search_terms(&text, TERMS).await;
    let outcome = match &answer {
        Ok(_) => "delivered",
        Err(e) => e.code().as_str(),
    };
    state.db.transfer_answered(&id, outcome, now_ms()).await?;
    let words = match answer {
        Ok(words) => words,
        Err(e) => {
            tracing::warn!(code = %e.code(), error = %e, "the chat model chose no search words");
            skipped.push(SkippedSource {
                source: ASSISTANT.into(),
                code: e.code().as_str().into(),
                detail: format!("the chat model failed ({e}): this server chose the search words"),
            });
            return Ok(local());
        }
    };
    let terms = chosen(&words);
    if terms.is_empty() {
        return Ok(local());
    }
    state.stock.terms.put(key, words);
    Ok((terms, "chat"))
}

fn strip(ranked: Vec<Ranked>) -> Vec<Candidate> {
    ranked.into_iter().map(|r| r.candidate).collect()
}

/// Fills every stock scene's `offer` from what a search offered this owner for this draft,
/// whatever the client sent: an unknown, stale or another user's pick is
/// `storyboard.unknown_pick`. A pick of one of the caller's uploads becomes an upload scene.
pub async fn resolve_picks(
    state: &AppState,
    owner: &str,
    job_id: &str,
    board: &mut Storyboard,
) -> ApiResult<()> {
    for (i, scene) in board.scenes.iter_mut().enumerate() {
        let Some(Visual::Stock { pick, .. }) = &scene.visual else {
            continue;
        };
        let candidate: Option<Candidate> = state
            .db
            .stock_offer(owner, job_id, pick)
            .await?
            .and_then(|o| serde_json::from_value(o.candidate).ok());
        scene.visual = match candidate {
            None => {
                let e = StoryboardError::UnknownPick(i);
                return Err(ApiError::from_code(&e, StatusCode::UNPROCESSABLE_ENTITY));
            }
            Some(c) if c.source == Source::Upload => Some(Visual::Upload { id: c.location }),
            Some(c) => Some(Visual::Stock {
                pick: pick.clone(),
                offer: Some(Box::new(c)),
            }),
        };
    }
    Ok(())
}

/// The storyboard a job's stored plan renders, if it was made from one.
pub fn storyboard_of(plan: Option<&Value>) -> Option<Storyboard> {
    plan.and_then(|p| StoredPlan::read(p).ok())
        .and_then(|s| s.storyboard)
}

/// The credits of a job's stored plan (its storyboard's stock and library pictures).
pub fn credits_of(plan: Option<&Value>) -> Vec<Attribution> {
    storyboard_of(plan).map(|b| b.credits()).unwrap_or_default()
}

/// The description file of a job's video: its title, its script and the credits its stock
/// and library pictures ask for, with their links.
pub fn description_text(title: &str, script: &str, credits: &[Attribution]) -> String {
    let mut out = format!("{title}\n\n{}\n", script.trim());
    if !credits.is_empty() {
        out.push_str("\nCredits\n");
        for c in credits {
            out.push_str(&format!("- {}", c.text));
            if let Some(url) = &c.source_url {
                out.push_str(&format!(" <{url}>"));
            }
            if let Some(url) = &c.author_url {
                out.push_str(&format!(" (author: <{url}>)"));
            }
            out.push_str(&format!(" · {}\n", c.licence));
        }
    }
    out
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/description.txt", tag = "jobs",
    params(("id" = String, Path), crate::jobs::RevisionQuery),
    responses((status = 200, content_type = "text/plain", description = "the video's description file: title, script and the credits of its stock and library pictures"),
        (status = 404, body = Problem)))]
pub async fn description(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<crate::jobs::RevisionQuery>,
) -> ApiResult<Response> {
    let job = crate::jobs::owned_job(&state, &caller, &client, &id).await?;
    let revision = query.revision.unwrap_or(job.current_revision);
    let plan = state
        .db
        .revision_plan(caller.id(), &id, revision)
        .await?
        .ok_or_else(|| ApiError::not_found("revision"))?;
    let params = state
        .db
        .revision_for_owner(caller.id(), &id, revision)
        .await?
        .map(|r| r.params)
        .ok_or_else(|| ApiError::not_found("revision"))?;
    let text = job_description(&job, &params, plan.as_ref());
    let disposition = format!(
        "attachment; filename=\"{}.description.txt\"",
        crate::jobs::file_stem(&job)
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response())
}

/// The description file of one revision of `job`, whose spec is `params` and stored plan `plan`.
pub fn job_description(job: &reelsmith_store::Job, params: &Value, plan: Option<&Value>) -> String {
    let script = params
        .get("script")
        .and_then(Value::as_str)
        .unwrap_or_default();
    description_text(&crate::jobs::job_title(job), script, &credits_of(plan))
}

/// Largest preview passed on to the page.
const PREVIEW_MAX_BYTES: u64 = 2 << 20;

/// Where the page shows an offer's preview: through this server (the page's content policy
/// allows its own images only, and the person's browser then never contacts the provider).
fn preview_path(job_id: &str, pick: &str, c: &Candidate) -> Option<String> {
    match c.source {
        Source::Upload => Some(format!("/api/v1/uploads/{}/content", c.id)),
        Source::Library if c.kind == MediaKind::Photo => Some(format!(
            "/api/v1/jobs/{job_id}/storyboard/picks/{pick}/preview"
        )),
        Source::Pexels | Source::Pixabay if c.preview_url.is_some() => Some(format!(
            "/api/v1/jobs/{job_id}/storyboard/picks/{pick}/preview"
        )),
        _ => None,
    }
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/storyboard/picks/{pick}/preview", tag = "storyboards",
    params(("id" = String, Path), ("pick" = String, Path)),
    responses((status = 200, content_type = "image/*", description = "the offer's preview picture: a library photo, or the stock provider's small preview fetched without any of the caller's data"),
        (status = 404, body = Problem, description = "no such pick offered to the caller for this storyboard, or it has no preview")))]
pub async fn preview(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path((id, pick)): Path<(String, String)>,
) -> ApiResult<Response> {
    let candidate: Candidate = state
        .db
        .stock_offer(caller.id(), &id, &pick)
        .await?
        .and_then(|o| serde_json::from_value(o.candidate).ok())
        .ok_or_else(|| ApiError::not_found("pick"))?;
    let (bytes, mime) = match candidate.source {
        Source::Library if candidate.kind == MediaKind::Photo => {
            let library = state
                .stock
                .library
                .as_ref()
                .ok_or_else(|| ApiError::not_found("pick"))?;
            let path = library
                .path_of(&candidate)
                .ok_or_else(|| ApiError::not_found("pick"))?;
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|_| ApiError::not_found("pick"))?;
            (bytes, mime_of(&candidate.location))
        }
        Source::Pexels | Source::Pixabay => {
            let url = candidate
                .preview_url
                .as_deref()
                .ok_or_else(|| ApiError::not_found("pick"))?;
            let provider = state
                .stock
                .provider(candidate.source)
                .ok_or_else(|| ApiError::not_found("pick"))?;
            let mut bytes: Vec<u8> = Vec::new();
            let (_, content_type, _) = provider
                .http()
                .download(url, &mut bytes, PREVIEW_MAX_BYTES, None)
                .await
                .map_err(|e| ApiError::of(e.code(), e.to_string()))?;
            let mime = content_type
                .filter(|t| t.starts_with("image/"))
                .ok_or_else(|| ApiError::not_found("pick"))?;
            (bytes, mime)
        }
        _ => return Err(ApiError::not_found("pick")),
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "private, max-age=86400".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

fn mime_of(file: &str) -> String {
    let ext = file
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "webp" => "image/webp",
        _ => "image/jpeg",
    }
    .to_owned()
}
