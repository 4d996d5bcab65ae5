//! `/privacy`: the privacy notice, generated from the running configuration so the published
//! policy cannot drift from what the server does: which third parties get what, where media and
//! accounts are stored, how long things are kept, the one cookie and the policy version.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use reelsmith_config::{Config, StorageBackend};
use reelsmith_store::{PolicyKind, PolicyVersion};

use super::{render, Caller, Chrome};
use crate::AppState;

/// One third party this server is configured to use, in plain words.
pub struct ThirdParty {
    pub company: String,
    pub what: &'static str,
}

#[derive(Template)]
#[template(path = "privacy.html")]
pub struct Privacy {
    pub c: Chrome,
    pub policy_version: String,
    pub third_parties: Vec<ThirdParty>,
    pub storage: String,
    pub database: &'static str,
    pub session_days: u32,
    pub minimum_age: u8,
    pub signup_grant: i64,
    /// The live retention settings (P-RET-1..4), as the sweep applies them.
    pub video_days: Option<u32>,
    pub uploads_until_job_ends: bool,
    pub logs_months: u32,
    pub purge_days: u32,
    pub sweep_minutes: u32,
    /// Years payment records stay, detached from the person, after an account's purge (P-RET-4).
    pub payment_records_years: u32,
    /// Text the operator published with the current version (P-COMM-2), if any.
    pub operator_note: String,
    /// Every published version, newest first.
    pub versions: Vec<VersionLine>,
    /// The gallery, share links and moderation as configured (issue 19).
    pub sharing: crate::sharing::PrivacySharing,
}

/// One published version, as the pages list them.
#[derive(Clone)]
pub struct VersionLine {
    pub version: String,
    pub published: String,
    pub summary: String,
    pub material: bool,
    pub body: String,
}

impl From<&PolicyVersion> for VersionLine {
    fn from(v: &PolicyVersion) -> VersionLine {
        VersionLine {
            version: v.version.clone(),
            published: crate::time::date(v.published_at),
            summary: v.summary.clone(),
            material: v.material,
            body: v.body.clone(),
        }
    }
}

/// The published versions of one document, newest first. A database error shows the page
/// without its history rather than no privacy notice at all.
async fn versions_of(state: &AppState, kind: PolicyKind) -> Vec<VersionLine> {
    match state.db.policy_history().await {
        Ok(all) => all
            .iter()
            .filter(|v| v.kind == kind)
            .map(VersionLine::from)
            .collect(),
        Err(err) => {
            tracing::error!(error = %err, "cannot read the policy versions");
            Vec::new()
        }
    }
}

#[derive(Template)]
#[template(path = "terms.html")]
pub struct Terms {
    pub c: Chrome,
    pub current: Option<VersionLine>,
    pub versions: Vec<VersionLine>,
}

/// `/terms`: the current terms of use as the operator published them (P-COMM-2).
pub async fn terms(State(state): State<AppState>, caller: Caller) -> Response {
    let versions = versions_of(&state, PolicyKind::Terms).await;
    let current = versions.first().cloned();
    render(Terms {
        c: Chrome::new("Terms", "terms", &caller),
        current,
        versions,
    })
}

pub async fn privacy(State(state): State<AppState>, caller: Caller) -> Response {
    let config = &state.config;
    let versions = versions_of(&state, PolicyKind::Privacy).await;
    let (policy_version, operator_note) = match versions.first() {
        Some(v) => (v.version.clone(), v.body.clone()),
        None => (config.privacy.policy_version.clone(), String::new()),
    };
    render(Privacy {
        c: Chrome::new("Privacy", "privacy", &caller),
        policy_version,
        operator_note,
        versions,
        third_parties: third_parties(config),
        storage: storage(config),
        database: if config.database.url.is_postgres() {
            "a PostgreSQL database run by the operator"
        } else {
            "a SQLite database file on this server"
        },
        session_days: config.accounts.session_days,
        minimum_age: config.accounts.minimum_age,
        signup_grant: config.credits.signup_grant,
        video_days: config.retention.video_days,
        uploads_until_job_ends: config.retention.uploads
            == reelsmith_config::UploadRetention::UntilJobEnds,
        logs_months: config.retention.logs_months,
        purge_days: config.retention.purge_days,
        sweep_minutes: config.retention.sweep_minutes,
        payment_records_years: config.billing.payment_records_years,
        sharing: crate::sharing::PrivacySharing::of(&state),
    })
}

/// Where media lives. An operator's own endpoint is not named: internal hosts are the operator's
/// business, like the providers' base URLs.
fn storage(config: &Config) -> String {
    match config.storage.backend {
        StorageBackend::Local => "a folder on this server".into(),
        StorageBackend::S3 => match config.storage.s3.endpoint {
            Some(_) => "S3-compatible object storage run by the operator".into(),
            None => format!("Amazon S3 (region {})", config.storage.s3.region),
        },
    }
}

fn third_parties(config: &Config) -> Vec<ThirdParty> {
    let p = &config.providers;
    let mut list = Vec::new();
    let shots = "the visual prompt of each scene (written from your script) and, for \
        image-to-video models, the image you chose for that scene";
    for (name, default) in [
        ("fal", "fal.ai"),
        ("replicate", "Replicate"),
        ("veo", "Google (Gemini API, Veo)"),
        ("atlas", "Atlas Cloud"),
        ("kie", "KieAI"),
    ] {
        if p.is_enabled(name) {
            list.push(ThirdParty {
                company: default.to_owned(),
                what: shots,
            });
        }
    }
    if p.is_enabled("comfyui") {
        list.push(ThirdParty {
            company: "the operator's own ComfyUI machine".to_owned(),
            what: shots,
        });
    }
    if p.is_enabled("openai") {
        let what = match (p.openai.chat_model.is_some(), p.openai.transcribe_voice) {
            (true, true) => {
                "the topic you give when you ask it to write a script, your scenes' narration (to \
                 write visual prompts and to choose the words a storyboard scene's pictures are \
                 searched with) and your voice recordings (to time the captions)"
            }
            (true, false) => {
                "the topic you give when you ask it to write a script, and your scenes' \
                 narration, to write visual prompts and to choose the words a storyboard \
                 scene's pictures are searched with"
            }
            (false, true) => "your voice recordings, to time the captions",
            (false, false) => "nothing: no feature that uses it is switched on",
        };
        list.push(ThirdParty {
            company: "OpenAI or the operator's OpenAI-compatible service".to_owned(),
            what,
        });
    }
    let stock = "a few search words for a storyboard scene's pictures (never the scene's text, \
        your name or your files), when you search it; the picture you pick is then downloaded \
        from it";
    for (configured, company) in [
        (config.stock.pexels_key.is_some(), "Pexels"),
        (config.stock.pixabay_key.is_some(), "Pixabay"),
    ] {
        if configured {
            list.push(ThirdParty {
                company: company.to_owned(),
                what: stock,
            });
        }
    }
    list
}
