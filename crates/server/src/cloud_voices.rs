//! The checks a job naming a cloud voice (issue 17) passes at submission, before any credit is
//! reserved: the voice's provider is configured here (`provider.not_configured`, 422) and the
//! user consented to it (`consent.required`, 409), since the narration text goes to it (P-TP-2).

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use reelsmith_core::Code;

/// `provider.not_configured` unless the operator switched this provider's voices on.
pub(crate) fn voice_is_configured(state: &AppState, provider: &str) -> ApiResult<()> {
    if state
        .config
        .providers
        .enabled_speech_providers()
        .contains(&provider)
    {
        return Ok(());
    }
    Err(ApiError::of(
        Code::ProviderNotConfigured,
        format!("cloud voices from `{provider}` are not configured on this server"),
    ))
}

/// Configured, and consented to by `owner`.
pub(crate) async fn voice_is_usable(
    state: &AppState,
    owner: &str,
    provider: &str,
) -> ApiResult<()> {
    voice_is_configured(state, provider)?;
    if state.db.active_consent(owner, provider).await?.is_none() {
        return Err(ApiError::of(
            Code::ConsentRequired,
            format!(
                "a cloud voice from `{provider}` reads your script aloud, so the script is sent \
                 to that company: give your consent for it on the AI providers page first"
            ),
        ));
    }
    Ok(())
}
