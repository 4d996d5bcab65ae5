//! `/api/v1/presets` (issue 25): a user's named settings, and the operator's read-only templates
//! (`[[presets]]`, `template:<id>`), listed together. Settings are checked exactly as a job's
//! spec is ([`crate::jobs::valid_spec`], with a stand-in script), so a stored preset is one a job
//! can start from. A job, a quote, a storyboard or a batch names one as `"preset": "<id>"`; the
//! request's own fields override the preset's ([`apply`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use reelsmith_config::PresetTemplate;
use reelsmith_core::preset::{is_preset_setting, PRESET_CHECK_SCRIPT};
use reelsmith_core::Code;
use reelsmith_store::{now_ms, Preset};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, CurrentUser};
use crate::time::rfc3339;
use crate::AppState;

/// How the API names an operator's template.
pub const TEMPLATE_PREFIX: &str = "template:";
/// Presets one user keeps.
pub const MAX_PRESETS: i64 = 100;
/// Longest preset name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresetInput {
    /// 1 to 100 characters.
    pub name: String,
    /// The render spec's settings (`aspect`, `style`, `caption_style`, `tts`, `music`, `model`,
    /// ...): no script, media, recording, per-scene prompts or seed.
    #[schema(value_type = Object)]
    pub settings: Value,
}

#[derive(Serialize, ToSchema)]
pub struct PresetView {
    /// The preset's id, or `template:<id>` for an operator's template.
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub settings: Value,
    /// An operator's template: it can be used, not changed.
    pub read_only: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl From<&Preset> for PresetView {
    fn from(p: &Preset) -> PresetView {
        PresetView {
            id: p.id.clone(),
            name: p.name.clone(),
            description: None,
            settings: p.settings.clone(),
            read_only: false,
            created_at: Some(rfc3339(p.created_at)),
            updated_at: Some(rfc3339(p.updated_at)),
        }
    }
}

fn template_view(t: &PresetTemplate) -> PresetView {
    PresetView {
        id: format!("{TEMPLATE_PREFIX}{}", t.id),
        name: t.name.clone(),
        description: t.description.clone(),
        settings: serde_json::to_value(&t.settings).unwrap_or_default(),
        read_only: true,
        created_at: None,
        updated_at: None,
    }
}

/// The settings of the caller's preset or a template; `None` when there is no such one
/// among theirs (another user's is reported exactly like a missing one, P-SEC-4).
async fn find(state: &AppState, owner: &str, id: &str) -> ApiResult<Option<PresetView>> {
    if let Some(template) = id.strip_prefix(TEMPLATE_PREFIX) {
        return Ok(state
            .config
            .preset_template(template)
            .as_ref()
            .map(template_view));
    }
    Ok(state
        .db
        .preset_for_owner(owner, id)
        .await?
        .as_ref()
        .map(PresetView::from))
}

/// Checks a name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
fn checked_name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::of(
            Code::PresetInvalidName,
            format!("a preset's name has 1 to {MAX_NAME_CHARS} characters, none of them control characters"),
        ));
    }
    Ok(name.to_owned())
}

/// The settings' keys, each one a preset may hold.
pub(crate) fn settings_object(settings: Value, code: Code) -> ApiResult<Map<String, Value>> {
    let Value::Object(map) = settings else {
        return Err(ApiError::of(code, "settings must be a JSON object"));
    };
    if let Some(key) = map.keys().find(|k| !is_preset_setting(k)) {
        return Err(ApiError::of(
            code,
            format!(
                "`{key}` is not a setting: settings hold the look, voice, captions, music, \
                 format and model, never a script, pictures or a recording"
            ),
        ));
    }
    Ok(map)
}

/// Settings checked as a job's spec would be: the same typed path, the caller's uploads (music),
/// the plan of the named model. Stored as given, so a preset holds only what was chosen.
async fn checked_settings(state: &AppState, owner: &str, settings: Value) -> ApiResult<Value> {
    let map = settings_object(settings, Code::PresetInvalidSettings)?;
    let mut spec = map.clone();
    spec.insert("script".into(), PRESET_CHECK_SCRIPT.into());
    crate::jobs::valid_spec(state, owner, Value::Object(spec)).await?;
    Ok(Value::Object(map))
}

/// A request body with its `preset` (if it names one) applied under it: the preset's settings,
/// with every field the body gives itself taking precedence (objects such as `caption_style`
/// and `tts` merged field by field).
pub(crate) async fn apply(state: &AppState, owner: &str, body: Value) -> ApiResult<Value> {
    let Value::Object(mut fields) = body else {
        return Ok(body);
    };
    let Some(named) = fields.remove("preset") else {
        return Ok(Value::Object(fields));
    };
    let Some(id) = named.as_str() else {
        return Err(ApiError::of(
            Code::PresetUnknown,
            "`preset` names a preset by its id",
        ));
    };
    let preset = find(state, owner, id).await?.ok_or_else(|| {
        ApiError::of(
            Code::PresetUnknown,
            format!("no preset `{id}` among yours or the templates"),
        )
    })?;
    Ok(overlay(preset.settings, Value::Object(fields)))
}

/// `over` laid onto `base`: objects merge key by key, anything else in `over` wins.
pub(crate) fn overlay(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut base), Value::Object(over)) => {
            for (key, value) in over {
                let merged = match base.remove(&key) {
                    Some(old) => overlay(old, value),
                    None => value,
                };
                base.insert(key, merged);
            }
            Value::Object(base)
        }
        (_, over) => over,
    }
}

#[utoipa::path(get, path = "/api/v1/presets", tag = "presets",
    responses((status = 200, body = [PresetView], description = "the caller's presets, then the operator's templates"), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<Vec<PresetView>>> {
    let mut all: Vec<PresetView> = state
        .db
        .presets_of(caller.id())
        .await?
        .iter()
        .map(PresetView::from)
        .collect();
    all.extend(state.config.preset_templates().iter().map(template_view));
    Ok(Json(all))
}

#[utoipa::path(post, path = "/api/v1/presets", tag = "presets", request_body = PresetInput,
    responses((status = 201, body = PresetView), (status = 401, body = Problem),
        (status = 409, body = Problem, description = "`preset.too_many`"),
        (status = 422, body = Problem, description = "`preset.invalid_name`, `preset.invalid_settings`, or the code a job with these settings would be refused with")))]
pub async fn create(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiJson(input): ApiJson<PresetInput>,
) -> ApiResult<(StatusCode, Json<PresetView>)> {
    let name = checked_name(&input.name)?;
    let settings = checked_settings(&state, caller.id(), input.settings).await?;
    let preset = state
        .db
        .create_preset(caller.id(), &name, &settings, MAX_PRESETS, now_ms())
        .await?
        .ok_or_else(|| {
            ApiError::of(
                Code::PresetTooMany,
                format!("you keep {MAX_PRESETS} presets already: delete one first"),
            )
        })?;
    Ok((StatusCode::CREATED, Json(PresetView::from(&preset))))
}

#[utoipa::path(get, path = "/api/v1/presets/{id}", tag = "presets", params(("id" = String, Path)),
    responses((status = 200, body = PresetView), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PresetView>> {
    find(&state, caller.id(), &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("preset"))
}

fn read_only(id: &str) -> ApiResult<()> {
    if id.starts_with(TEMPLATE_PREFIX) {
        return Err(ApiError::of(
            Code::PresetReadOnly,
            "the operator's templates cannot be changed: save your own preset from it instead",
        ));
    }
    Ok(())
}

#[utoipa::path(put, path = "/api/v1/presets/{id}", tag = "presets", params(("id" = String, Path)), request_body = PresetInput,
    responses((status = 200, body = PresetView), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`preset.read_only` for a template"), (status = 422, body = Problem)))]
pub async fn replace(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PresetInput>,
) -> ApiResult<Json<PresetView>> {
    read_only(&id)?;
    if state.db.preset_for_owner(caller.id(), &id).await?.is_none() {
        return Err(ApiError::not_found("preset"));
    }
    let name = checked_name(&input.name)?;
    let settings = checked_settings(&state, caller.id(), input.settings).await?;
    state
        .db
        .update_preset(caller.id(), &id, &name, &settings, now_ms())
        .await?
        .map(|p| Json(PresetView::from(&p)))
        .ok_or_else(|| ApiError::not_found("preset"))
}

#[utoipa::path(delete, path = "/api/v1/presets/{id}", tag = "presets", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem, description = "`preset.read_only` for a template")))]
pub async fn delete(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    read_only(&id)?;
    if state.db.delete_preset(caller.id(), &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("preset"))
    }
}

/// Issue 25's presets and batches in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list,
    create,
    get,
    replace,
    delete,
    crate::batches::quote,
    crate::batches::create,
    crate::batches::list,
    crate::batches::get,
))]
pub struct PresetsApi;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_field_overrides_the_preset_and_objects_merge() {
        let preset = json!({ "aspect": "9:16", "style": "warm",
            "caption_style": { "size": 140, "position": "middle" } });
        let body = json!({ "script": "Hi.", "style": "mono", "caption_style": { "size": 90 } });
        assert_eq!(
            overlay(preset, body),
            json!({ "aspect": "9:16", "style": "mono", "script": "Hi.",
                "caption_style": { "size": 90, "position": "middle" } })
        );
    }
}
