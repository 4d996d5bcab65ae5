//! Voices and music: the voice catalogue with a cached sample per voice, the operator's music
//! library with previews, and the checks a job's voice and music pass before it is queued
//! (so a bad one is refused before any credit is reserved).

use std::path::{Path as FsPath, PathBuf};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use reelsmith_core::{Code, RenderSpec};
use reelsmith_media::music::{find_track, library_id, list_tracks, LIBRARY_PREFIX};
use reelsmith_media::voices::{find_voice, local_voices, piper_problem, write_sample, VoiceEntry};
use reelsmith_store::UploadKind;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::CurrentUser;
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct VoiceView {
    /// What a job's `tts.voice` takes.
    pub id: String,
    pub name: String,
    pub language: String,
    pub gender: Option<String>,
    pub engine: String,
    pub local: bool,
    pub price_credits: u64,
    /// Whether `tts.rate` and `tts.pitch` change this voice.
    pub speed: bool,
    pub pitch: bool,
    pub sample_url: String,
    /// Cloud voices: credits per 1000 characters of narration (the quote is exact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits_per_1000_chars: Option<f64>,
    /// Cloud voices: the company the script is sent to, whose consent the caller needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Cloud voices: the caller's consent to `provider` (`granted`, `withdrawn`, `none`);
    /// a job with the voice is refused (`409 consent.required`) unless `granted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<&'static str>,
}

impl From<&VoiceEntry> for VoiceView {
    fn from(v: &VoiceEntry) -> VoiceView {
        VoiceView {
            id: v.id.clone(),
            name: v.name.clone(),
            language: v.language.clone(),
            gender: v.gender.clone(),
            engine: v.engine.clone(),
            local: v.local,
            price_credits: v.price_credits,
            speed: v.speed,
            pitch: v.pitch,
            sample_url: format!("/api/v1/voices/{}/sample", v.id),
            credits_per_1000_chars: None,
            provider: None,
            consent: None,
        }
    }
}

impl VoiceView {
    fn cloud(v: &reelsmith_providers::speech::CloudVoice, consent: &'static str) -> VoiceView {
        VoiceView {
            id: v.id.clone(),
            name: v.name.clone(),
            language: v.language.clone(),
            gender: v.gender.clone(),
            engine: v.engine.to_owned(),
            local: false,
            price_credits: 0,
            speed: false,
            pitch: false,
            // The id holds `/`: escaped, it stays one path segment.
            sample_url: format!("/api/v1/voices/{}/sample", v.id.replace('/', "%2F")),
            credits_per_1000_chars: Some(v.price_per_1000_chars),
            provider: Some(v.engine.to_owned()),
            consent: Some(consent),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VoiceList {
    pub voices: Vec<VoiceView>,
}

#[utoipa::path(get, path = "/api/v1/voices", tag = "voices",
    responses((status = 200, body = VoiceList), (status = 401, body = Problem)))]
pub async fn voices(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<VoiceList>> {
    let speech = reelsmith_jobs::speech::speech_config(&state.config);
    let mut list: Vec<VoiceView> =
        tokio::task::spawn_blocking(move || local_views(&speech)).await?;
    let cloud = crate::cloud_voices::configured_cloud_voices(&state).await;
    if !cloud.is_empty() {
        let history = state.db.consents_for_user(caller.id()).await?;
        list.extend(cloud.iter().map(|v| {
            let consent = crate::providers::ConsentState::of(v.engine, &history).state;
            VoiceView::cloud(v, consent)
        }));
    }
    Ok(Json(VoiceList { voices: list }))
}

/// The local voices as the picker shows them. A bare language that the default voice gives to
/// a Piper voice (D-voice-6) is named for it, and its espeak-ng reading follows as
/// `espeak:<language>`, so the picker never says espeak-ng where Piper would speak.
fn local_views(speech: &reelsmith_media::speech::voices::SpeechConfig) -> Vec<VoiceView> {
    let voices = local_voices(speech);
    let natural: Vec<&str> = voices
        .iter()
        .filter(|v| v.engine == "piper")
        .map(|v| v.language.as_str())
        .collect();
    let mut out = Vec::with_capacity(voices.len() + natural.len());
    for v in &voices {
        let mut view = VoiceView::from(v);
        if v.engine == "espeak-ng" && natural.contains(&v.language.as_str()) {
            let status = speech.default_voice_status(&v.id);
            if let Some(piper) = status.voice.strip_prefix("piper:") {
                let espeak = VoiceView {
                    id: format!("espeak:{}", v.id),
                    sample_url: format!("/api/v1/voices/espeak:{}/sample", v.id),
                    ..VoiceView::from(v)
                };
                let language = v.name.trim_end_matches(" (espeak-ng)");
                view.name = format!("{language} (default: the natural voice {piper})");
                view.engine = "piper".into();
                view.speed = false;
                view.pitch = false;
                out.push(view);
                out.push(espeak);
                continue;
            }
        }
        out.push(view);
    }
    out
}

fn unknown_voice(id: &str) -> ApiError {
    ApiError::of(
        Code::VoiceUnknown,
        format!("no voice `{id}` on this server"),
    )
    .with_status(StatusCode::NOT_FOUND)
}

/// Where samples are kept: made once per voice, then served from disk.
fn sample_dir(state: &AppState) -> PathBuf {
    state
        .config
        .server
        .data_dir
        .join("cache")
        .join("voice-samples")
}

#[utoipa::path(get, path = "/api/v1/voices/{id}/sample", tag = "voices", params(("id" = String, Path)),
    responses((status = 200, content_type = "audio/wav", description = "a few seconds of the voice, synthesized once and cached"),
        (status = 404, body = Problem)))]
pub async fn voice_sample(
    State(state): State<AppState>,
    _caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    if reelsmith_providers::speech::CloudVoiceId::looks_cloud(&id) {
        return cloud_voice_sample(&state, &id).await;
    }
    // Only catalogue ids reach the file system, so the id can name the cached file.
    let speech = reelsmith_jobs::speech::speech_config(&state.config);
    let voice = tokio::task::spawn_blocking({
        let (id, speech) = (id.clone(), speech.clone());
        move || find_voice(&id, &speech)
    })
    .await?
    .ok_or_else(|| unknown_voice(&id))?;
    let dir = sample_dir(&state);
    // A bare language sounds like the operator's default voice: it is part of the name, so a
    // changed default is heard at once. Only a catalogue id (`voice` found it) gets here.
    let default = &state.config.speech.default_voice;
    let key = if voice.id == id {
        format!("{id}|{default}")
    } else {
        id.clone()
    };
    let path = dir.join(format!("{}.wav", hex_name(&key)));
    if tokio::fs::metadata(&path).await.is_err() {
        make_sample(id.clone(), speech, dir, path.clone()).await?;
    }
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError::fault(Code::VoiceSampleIo, &e))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("audio/wav")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=86400"),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// A cloud voice's sample, made by its provider once and then served from the cache.
async fn cloud_voice_sample(state: &AppState, id: &str) -> ApiResult<Response> {
    let dir = sample_dir(state);
    let path = dir.join(format!("{}.mp3", hex_name(id)));
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let audio = crate::cloud_voices::cloud_sample(state, id)
                .await?
                .ok_or_else(|| unknown_voice(id))?;
            let io = |e: std::io::Error| ApiError::fault(Code::VoiceSampleIo, &e);
            tokio::fs::create_dir_all(&dir).await.map_err(io)?;
            let temp = dir.join(format!(".{}.{}.part", hex_name(id), std::process::id()));
            tokio::fs::write(&temp, &audio).await.map_err(io)?;
            tokio::fs::rename(&temp, &path).await.map_err(io)?;
            audio
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("audio/mpeg")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=86400"),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// File names from ids without trusting the id's characters.
fn hex_name(id: &str) -> String {
    id.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Synthesizes the sample under a temporary name and renames it into place, so a reader never
/// sees half a file; two requests racing both write and the last rename wins.
async fn make_sample(
    id: String,
    speech: reelsmith_media::speech::voices::SpeechConfig,
    dir: PathBuf,
    path: PathBuf,
) -> ApiResult<()> {
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        let temp = tempfile::NamedTempFile::new_in(&dir)?;
        write_sample(&id, temp.path(), &speech).map_err(std::io::Error::other)?;
        temp.persist(&path).map_err(|e| e.error)?;
        Ok::<(), std::io::Error>(())
    })
    .await?
    .map_err(|e| ApiError::fault(Code::VoiceSample, &e))
}

#[derive(Serialize, ToSchema)]
pub struct TrackView {
    /// What a job's `music` takes: `library:<id>`.
    pub id: String,
    pub title: String,
    pub duration_seconds: f64,
    pub preview_url: String,
}

#[derive(Serialize, ToSchema)]
pub struct MusicList {
    pub tracks: Vec<TrackView>,
}

#[utoipa::path(get, path = "/api/v1/music", tag = "voices",
    responses((status = 200, body = MusicList), (status = 401, body = Problem)))]
pub async fn music(
    State(state): State<AppState>,
    _caller: CurrentUser,
) -> ApiResult<Json<MusicList>> {
    let Some(dir) = state.config.music.library.clone() else {
        return Ok(Json(MusicList { tracks: Vec::new() }));
    };
    let limits = state.config.limits.clone();
    let tracks = tokio::task::spawn_blocking(move || list_tracks(&dir, &limits)).await?;
    Ok(Json(MusicList {
        tracks: tracks
            .into_iter()
            .map(|t| TrackView {
                preview_url: format!("/api/v1/music/{}/preview", t.id),
                id: format!("{LIBRARY_PREFIX}{}", t.id),
                title: t.title,
                duration_seconds: t.duration_seconds,
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/music/{id}/preview", tag = "voices", params(("id" = String, Path, description = "the track's id without `library:`")),
    responses((status = 200, content_type = "application/octet-stream", description = "the track's file, typed by its extension: `audio/mpeg`, `audio/ogg`, `audio/flac`, `audio/wav` or `audio/mp4`"), (status = 404, body = Problem)))]
pub async fn music_preview(
    State(state): State<AppState>,
    _caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let path = find_track(state.config.music.library.as_deref(), &id)
        .map_err(|_| ApiError::not_found("music track"))?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::not_found("music track"))?;
    let length = file
        .metadata()
        .await
        .map_err(|e| ApiError::fault(Code::MusicIo, &e))?
        .len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(mime_of(&path)),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(length)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response())
}

fn mime_of(path: &FsPath) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("mp3") => "audio/mpeg",
        Some("ogg" | "oga" | "opus") => "audio/ogg",
        Some("flac") => "audio/flac",
        Some("wav") => "audio/wav",
        Some("m4a" | "aac") => "audio/mp4",
        _ => "application/octet-stream",
    }
}

/// A job's voice must be in the catalogue (local and free today), and its music an audio
/// upload of the caller's own or a playable track of the library: refused here, before the
/// job is queued or anything reserved.
pub(crate) async fn check_sound(state: &AppState, owner: &str, spec: &RenderSpec) -> ApiResult<()> {
    // A recording replaces synthesis: its voice setting only guides alignment.
    // Cloud voices (`openai/…`, `elevenlabs/…`) are checked against the configured providers
    // and the caller's consent when the job is planned (cloud_voices.rs).
    let cloud = ["openai/", "elevenlabs/"]
        .iter()
        .any(|prefix| spec.tts.voice.starts_with(prefix));
    if spec.voice.is_none() && !cloud {
        let id = spec.tts.voice.clone();
        let speech = reelsmith_jobs::speech::speech_config(&state.config);
        let (known, problem) = tokio::task::spawn_blocking(move || {
            (
                find_voice(&id, &speech).is_some(),
                piper_problem(&id, &speech),
            )
        })
        .await?;
        // An operator's Piper voice that is there but broken: named, it is refused with the
        // reason (a bare language falls back to espeak-ng instead, D-voice-6).
        if let Some(why) = problem {
            return Err(ApiError::of(
                Code::VoiceUnusable,
                format!(
                    "the voice `{}` is installed but cannot be used: {why}",
                    spec.tts.voice
                ),
            ));
        }
        if !known {
            return Err(ApiError::of(
                Code::VoiceUnknown,
                format!(
                    "no voice `{}` on this server: GET /api/v1/voices lists them",
                    spec.tts.voice
                ),
            ));
        }
    }
    let Some(music) = &spec.music else {
        return Ok(());
    };
    match library_id(music) {
        Some(track) => {
            let path = find_track(state.config.music.library.as_deref(), track)
                .map_err(|e| ApiError::from_code(&e, StatusCode::UNPROCESSABLE_ENTITY))?;
            let limits = state.config.limits.clone();
            tokio::task::spawn_blocking(move || {
                reelsmith_media::audio::check_audio(&path, &limits)
            })
            .await?
            .map_err(|e| {
                ApiError::of(
                    Code::MusicUnplayable,
                    format!("the library track cannot be played: {e}"),
                )
            })?;
        }
        None => {
            let upload = state
                .db
                .upload_for_owner(owner, music)
                .await?
                .ok_or_else(|| {
                    ApiError::of(
                        Code::JobUnknownUpload,
                        format!("no upload `{music}` exists among yours"),
                    )
                })?;
            if upload.kind != UploadKind::Audio {
                return Err(ApiError::of(
                    Code::MusicNotAudio,
                    format!(
                        "upload `{music}` is {}; `music` takes an audio file",
                        upload.kind.as_str()
                    ),
                ));
            }
            let limit = state.config.limits.max_media_seconds;
            let seconds = upload.duration_ms.unwrap_or(0) as f64 / 1000.0;
            if seconds > limit {
                return Err(ApiError::of(
                    Code::MusicTooLong,
                    format!("the music lasts {seconds:.0} s, more than the limit of {limit:.0} s"),
                ));
            }
        }
    }
    Ok(())
}
