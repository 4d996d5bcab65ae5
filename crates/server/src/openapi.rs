//! The OpenAPI document, generated from the handlers' annotations, and a page that shows it
//! with no outside assets (a small self-contained script renders the JSON).

use axum::response::Html;
use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{
    account, auth, consents, credits, error, exports, health, jobs, marketing, policies, providers,
    scripts, sessions, sound, tokens, transfers, uploads,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Reelsmith API", description = "Accounts, uploads, video jobs, AI providers with consent, and credits. Errors are RFC 7807 problem+json with a stable `code`."),
    paths(
        auth::signup, auth::verify, auth::resend_verification, auth::login, auth::logout, auth::forgot_password,
        auth::reset_password, auth::me,
        account::update_profile, account::change_password, account::request_email_change,
        account::verify_email_change, account::delete_account, account::set_processing, account::set_notifications,
        account::set_username, account::preferences, transfers::mine,
        tokens::create, tokens::list, tokens::revoke,
        sessions::list, sessions::revoke, sessions::revoke_others,
        uploads::create, uploads::list, uploads::get, uploads::content, uploads::delete,
        jobs::submit, jobs::list, jobs::get, jobs::update, jobs::cancel, jobs::delete, jobs::revise,
        jobs::revisions, jobs::delete_revision, jobs::events, jobs::video, jobs::poster, jobs::captions_vtt,
        jobs::captions_srt, credits::quote, transfers::list,
        providers::list, consents::list, consents::grant, consents::withdraw, credits::mine,
        scripts::write,
        policies::list, policies::mine, policies::accept, marketing::set,
        exports::create, exports::list, exports::download,
        health::healthz, health::readyz, health::metrics,
        sound::voices, sound::voice_sample, sound::music, sound::music_preview,
    ),
    components(schemas(error::Problem)),
    modifiers(&Security),
    security(("session_cookie" = []), ("bearer_token" = [])),
)]
pub struct ApiDoc;

/// Issue 19's routes (sharing, gallery, profiles, reports, moderation), merged into [`ApiDoc`].
#[derive(OpenApi)]
#[openapi(paths(
    crate::sharing::create_share,
    crate::sharing::list_shares,
    crate::sharing::revoke_share,
    crate::sharing::get_publication,
    crate::sharing::publish,
    crate::sharing::unpublish,
    crate::sharing::set_avatar,
    crate::sharing::public::gallery,
    crate::sharing::public::work,
    crate::sharing::public::work_file,
    crate::sharing::public::profile,
    crate::sharing::public::avatar,
    crate::moderation::report,
    crate::moderation::queue,
    crate::moderation::approve,
    crate::moderation::refuse,
    crate::moderation::takedown,
    crate::moderation::ban,
    crate::moderation::record_legal,
    crate::moderation::list_legal,
    crate::moderation::decide_legal,
))]
pub struct SharingDoc;

/// Issue 23's outbound webhook endpoints, merged into [`ApiDoc`].
#[derive(OpenApi)]
#[openapi(paths(
    crate::outbound_webhooks::create,
    crate::outbound_webhooks::list,
    crate::outbound_webhooks::delete,
    crate::outbound_webhooks::deliveries,
))]
pub struct WebhooksDoc;

/// Issue 25's storyboards, merged into [`ApiDoc`].
#[derive(OpenApi)]
#[openapi(paths(
    crate::storyboards::create,
    crate::storyboards::get,
    crate::storyboards::replace,
    crate::storyboards::delete,
    crate::storyboards::render,
))]
pub struct StoryboardsDoc;

/// Issue 25's pictures for scenes (stock search, previews, the description file).
#[derive(OpenApi)]
#[openapi(paths(
    crate::stock_search::search,
    crate::stock_search::preview,
    crate::stock_search::description,
))]
pub struct StockDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::extract::SESSION_COOKIE,
            ))),
        );
        components.add_security_scheme(
            "bearer_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole document as served: every part merged, operation ids made unique.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(SharingDoc::openapi());
    doc.merge(WebhooksDoc::openapi());
    doc.merge(StoryboardsDoc::openapi());
    doc.merge(StockDoc::openapi());
    doc.merge(crate::error_codes::ErrorCodesDoc::openapi());
    doc.merge(crate::preview::PreviewApi::openapi());
    doc.merge(crate::presets::PresetsApi::openapi());
    unique_operation_ids(&mut doc);
    doc
}

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

/// utoipa names an operation after its handler, and many modules have a `list` or a `get`:
/// an id used more than once becomes `<tag>_<id>` (then `<method>_<path>` if that still
/// clashes), so generated clients get one function per operation.
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    use std::collections::HashMap;
    fn operations(
        doc: &mut utoipa::openapi::OpenApi,
    ) -> Vec<(String, &'static str, &mut utoipa::openapi::path::Operation)> {
        let mut out = Vec::new();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in [
                ("get", item.get.as_mut()),
                ("put", item.put.as_mut()),
                ("post", item.post.as_mut()),
                ("delete", item.delete.as_mut()),
                ("patch", item.patch.as_mut()),
                ("head", item.head.as_mut()),
                ("options", item.options.as_mut()),
                ("trace", item.trace.as_mut()),
            ] {
                if let Some(op) = op {
                    out.push((path.clone(), method, op));
                }
            }
        }
        out
    }
    let count = |doc: &mut utoipa::openapi::OpenApi| {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (_, _, op) in operations(doc) {
            if let Some(id) = &op.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
        seen
    };
    let seen = count(doc);
    for (_, _, op) in operations(doc) {
        let Some(id) = op.operation_id.clone() else {
            continue;
        };
        if seen.get(&id).copied().unwrap_or(0) > 1 {
            let tag = op
                .tags
                .as_ref()
                .and_then(|t| t.first().cloned())
                .unwrap_or_else(|| "api".into());
            op.operation_id = Some(format!("{tag}_{id}"));
        }
    }
    let seen = count(doc);
    for (path, method, op) in operations(doc) {
        let Some(id) = op.operation_id.clone() else {
            continue;
        };
        if seen.get(&id).copied().unwrap_or(0) > 1 {
            let slug: String = path
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            op.operation_id = Some(format!("{method}{}", slug.trim_end_matches('_')));
        }
    }
}

pub async fn docs_page() -> Html<&'static str> {
    Html(DOCS_PAGE)
}

const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reelsmith API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ddd;margin-top:2rem}.op{margin:.6rem 0;padding:.4rem .6rem;background:#f6f6f6;border-radius:4px}
.m{display:inline-block;min-width:4.5rem;font-weight:600;text-transform:uppercase}code{font-size:.9em}
details pre{white-space:pre-wrap;font-size:.8em}
</style></head><body>
<h1>Reelsmith API</h1>
<p>Generated from the server's code: <a href="/api/openapi.json">/api/openapi.json</a>.</p>
<div id="ops">Loading…</div>
<script>
fetch('/api/openapi.json').then(r => r.json()).then(doc => {
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths || {}))
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ['other'])[0];
      (byTag[tag] = byTag[tag] || []).push({path, method, op});
    }
  const root = document.getElementById('ops');
  root.textContent = '';
  for (const [tag, ops] of Object.entries(byTag)) {
    const h = document.createElement('h2'); h.textContent = tag; root.appendChild(h);
    for (const {path, method, op} of ops) {
      const d = document.createElement('div'); d.className = 'op';
      const m = document.createElement('span'); m.className = 'm'; m.textContent = method;
      const c = document.createElement('code'); c.textContent = path;
      const det = document.createElement('details');
      const s = document.createElement('summary'); s.textContent = 'responses: ' + Object.keys(op.responses || {}).join(', ');
      const pre = document.createElement('pre'); pre.textContent = JSON.stringify(op, null, 2);
      det.append(s, pre); d.append(m, c, det); root.appendChild(d);
    }
  }
}).catch(e => { document.getElementById('ops').textContent = 'Could not load the document: ' + e; });
</script></body></html>"#;
