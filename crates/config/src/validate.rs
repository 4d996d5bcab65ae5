//! Whole-configuration checks that types alone cannot express: URLs that parse, settings that
//! need each other (S3 needs a bucket, SMTP a host), numbers in sensible ranges. Every problem is
//! reported at once so an operator fixes the file in one pass. Messages never quote secrets.

use std::fmt;

use url::Url;

use crate::sections::{
    Config, EmailTransport, RateLimit, SmtpTls, StorageBackend, MAX_PURGE_DAYS, X264_PRESETS,
};

/// One thing wrong with the configuration, and the key to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, key: &str, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.to_owned(),
            message: message.into(),
        });
    }

    fn check(&mut self, ok: bool, key: &str, message: &str) {
        if !ok {
            self.add(key, message);
        }
    }
}

impl Config {
    /// Every problem with this configuration; empty when it is usable.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Problems::default();
        self.validate_server(&mut problems);
        self.validate_database(&mut problems);
        self.validate_storage(&mut problems);
        self.validate_encryption(&mut problems);
        self.validate_email(&mut problems);
        self.validate_worker(&mut problems);
        self.validate_limits(&mut problems);
        self.validate_accounts(&mut problems);
        self.validate_rate_limits(&mut problems);
        self.validate_render(&mut problems);
        self.validate_providers(&mut problems);
        self.validate_retention(&mut problems);
        self.validate_metrics(&mut problems);
        self.validate_uploads(&mut problems);
        for (key, message) in crate::oidc::problems(&self.oidc) {
            problems.add(&key, message);
        }
        for (key, message) in self.billing.problems() {
            problems.add(&key, message);
        }
        if let Err(why) = self.speech.check_default_voice() {
            problems.add("speech.default_voice", why);
        }
        for (key, message) in self.sharing.problems() {
            problems.add(&key, message);
        }
        for (key, message) in self.stock.problems() {
            problems.add(&key, message);
        }
        for (key, message) in self.preset_problems() {
            problems.add(&key, message);
        }
        for (key, message) in crate::models::problems(&self.providers.models) {
            problems.add(&key, message);
        }
        problems.0
    }

    fn validate_metrics(&self, p: &mut Problems) {
        if let Some(token) = &self.metrics.token {
            p.check(
                token.expose().chars().count() >= 16,
                "metrics.token",
                "must be at least 16 characters: it is the only guard on /metrics",
            );
        }
    }

    fn validate_server(&self, p: &mut Problems) {
        if let Some(public_url) = &self.server.public_url {
            match Url::parse(public_url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
                Ok(_) => p.add(
                    "server.public_url",
                    "must be an http:// or https:// URL with a host",
                ),
                Err(error) => p.add("server.public_url", format!("not a URL: {error}")),
            }
        }
        let tls = &self.server.tls;
        p.check(
            tls.cert.is_some() == tls.key.is_some(),
            "server.tls",
            "give both `cert` and `key`, or neither",
        );
    }

    fn validate_database(&self, p: &mut Problems) {
        let url = &self.database.url;
        if url.is_sqlite() {
            let path = url
                .expose()
                .trim_start_matches("sqlite:")
                .trim_start_matches("//");
            p.check(
                !path.is_empty(),
                "database.url",
                "a sqlite:// URL needs a file path",
            );
        } else if url.is_postgres() {
            // The parse error is not shown: it could quote the password.
            match Url::parse(url.expose()) {
                Ok(parsed) if parsed.host().is_some() => {}
                _ => p.add(
                    "database.url",
                    "not a valid postgres://user:password@host/database URL",
                ),
            }
        } else {
            p.add(
                "database.url",
                "must start with sqlite:// or postgres:// (postgresql://)",
            );
        }
        p.check(
            self.database.max_connections >= 1,
            "database.max_connections",
            "must be at least 1",
        );
    }

    fn validate_encryption(&self, p: &mut Problems) {
        let encryption = &self.encryption;
        p.check(
            !encryption.key_file.as_os_str().is_empty(),
            "encryption.key_file",
            "must not be empty",
        );
        p.check(
            !encryption.previous_key_files.contains(&encryption.key_file),
            "encryption.previous_key_files",
            "must not list the current key_file",
        );
    }

    fn validate_storage(&self, p: &mut Problems) {
        if self.storage.backend != StorageBackend::S3 {
            p.check(
                !self.storage.local_path.as_os_str().is_empty(),
                "storage.local_path",
                "must not be empty",
            );
            return;
        }
        let s3 = &self.storage.s3;
        match &s3.bucket {
            Some(bucket) if !bucket.trim().is_empty() => {}
            _ => p.add("storage.s3.bucket", "the s3 backend needs a bucket"),
        }
        p.check(
            !s3.region.trim().is_empty(),
            "storage.s3.region",
            "must not be empty",
        );
        if let Some(endpoint) = &s3.endpoint {
            match Url::parse(endpoint) {
                Ok(url) if url.scheme() == "https" && url.host().is_some() => {}
                Ok(url) if url.scheme() == "http" && url.host().is_some() => p.check(
                    s3.allow_http,
                    "storage.s3.endpoint",
                    "is plain http: set storage.s3.allow_http = true to permit it",
                ),
                Ok(_) => p.add(
                    "storage.s3.endpoint",
                    "must be an http:// or https:// URL with a host",
                ),
                Err(error) => p.add("storage.s3.endpoint", format!("not a URL: {error}")),
            }
        }
        p.check(
            s3.access_key_id.is_some() == s3.secret_access_key.is_some(),
            "storage.s3.access_key_id",
            "give both access_key_id and secret_access_key, or neither (ambient credentials)",
        );
    }

    fn validate_email(&self, p: &mut Problems) {
        p.check(
            looks_like_mailbox(&self.email.from),
            "email.from",
            "must be an address (`name@example.org`) or `Name <name@example.org>`",
        );
        match self.email.transport {
            EmailTransport::Outbox => p.check(
                !self.email.outbox_dir.as_os_str().is_empty(),
                "email.outbox_dir",
                "must not be empty",
            ),
            EmailTransport::Smtp => self.validate_smtp(p),
        }
    }

    fn validate_smtp(&self, p: &mut Problems) {
        let smtp = &self.email.smtp;
        let host = smtp.host.as_deref().map(str::trim).unwrap_or("");
        p.check(
            !host.is_empty(),
            "email.smtp.host",
            "the smtp transport needs a host",
        );
        p.check(
            smtp.port != Some(0),
            "email.smtp.port",
            "must be between 1 and 65535",
        );
        p.check(
            smtp.username.is_some() == smtp.password.is_some(),
            "email.smtp.username",
            "give both username and password, or neither",
        );
        let on_this_machine = matches!(host, "localhost" | "127.0.0.1" | "::1");
        p.check(
            smtp.tls != SmtpTls::None || smtp.password.is_none() || on_this_machine,
            "email.smtp.tls",
            "a password would travel unencrypted: use starttls or tls",
        );
        p.check(
            smtp.timeout_seconds >= 1,
            "email.smtp.timeout_seconds",
            "must be at least 1",
        );
    }

    fn validate_worker(&self, p: &mut Problems) {
        let w = &self.worker;
        p.check(
            w.concurrency >= 1,
            "worker.concurrency",
            "must be at least 1",
        );
        p.check(
            w.heartbeat_seconds >= 1,
            "worker.heartbeat_seconds",
            "must be at least 1",
        );
        // A lease must survive a missed heartbeat or two, or healthy jobs get taken over.
        p.check(
            w.lease_seconds >= 2 * w.heartbeat_seconds,
            "worker.lease_seconds",
            "must be at least twice worker.heartbeat_seconds",
        );
        p.check(
            w.max_attempts >= 1,
            "worker.max_attempts",
            "must be at least 1",
        );
        p.check(
            w.global_running_jobs >= 1,
            "worker.global_running_jobs",
            "must be at least 1",
        );
        p.check(
            w.per_user_running_jobs >= 1,
            "worker.per_user_running_jobs",
            "must be at least 1",
        );
        p.check(
            w.per_user_running_jobs <= w.global_running_jobs,
            "worker.per_user_running_jobs",
            "must not exceed worker.global_running_jobs",
        );
        p.check(
            !w.temp_dir.as_os_str().is_empty(),
            "worker.temp_dir",
            "must not be empty",
        );
    }

    fn validate_limits(&self, p: &mut Problems) {
        let l = &self.limits;
        let positive_counts = [
            ("limits.max_script_words", l.max_script_words as u64),
            ("limits.max_script_bytes", l.max_script_bytes as u64),
            ("limits.max_image_pixels", l.max_image_pixels),
            ("limits.max_file_bytes", l.max_file_bytes),
            ("limits.max_clip_frames", l.max_clip_frames),
            ("limits.max_media_files", l.max_media_files as u64),
            (
                "limits.max_concurrent_processes",
                l.max_concurrent_processes as u64,
            ),
            ("limits.process_timeout_seconds", l.process_timeout_seconds),
        ];
        for (key, value) in positive_counts {
            p.check(value >= 1, key, "must be at least 1");
        }
        for (key, value) in [
            ("limits.max_media_seconds", l.max_media_seconds),
            ("limits.max_output_seconds", l.max_output_seconds),
        ] {
            p.check(
                value.is_finite() && value > 0.0,
                key,
                "must be a positive number of seconds",
            );
        }
    }

    fn validate_accounts(&self, p: &mut Problems) {
        let a = &self.accounts;
        p.check(
            (1..=120).contains(&a.minimum_age),
            "accounts.minimum_age",
            "must be between 1 and 120",
        );
        p.check(
            a.session_days >= 1,
            "accounts.session_days",
            "must be at least 1",
        );
        p.check(
            (1..=24 * 60).contains(&a.code_minutes),
            "accounts.code_minutes",
            "must be between 1 and 1440",
        );
        p.check(
            (1..=20).contains(&a.code_attempts),
            "accounts.code_attempts",
            "must be between 1 and 20: more makes a 6-digit code guessable",
        );
    }

    fn validate_rate_limits(&self, p: &mut Problems) {
        let r = &self.rate_limits;
        for (name, limit) in [
            ("sign_in", r.sign_in),
            ("codes", r.codes),
            ("sign_up", r.sign_up),
            ("job_submission", r.job_submission),
            ("sign_in_account", r.sign_in_account),
            ("preview", r.preview),
        ] {
            validate_rate_limit(p, name, limit);
        }
    }

    fn validate_render(&self, p: &mut Problems) {
        p.check(
            X264_PRESETS.contains(&self.render.x264_preset.as_str()),
            "render.x264_preset",
            &format!("must be one of {}", X264_PRESETS.join(", ")),
        );
        p.check(
            self.render.crf <= 51,
            "render.crf",
            "must be between 0 and 51",
        );
    }

    fn validate_providers(&self, p: &mut Problems) {
        let providers = &self.providers;
        for name in [
            "fal",
            "replicate",
            "veo",
            "atlas",
            "kie",
            "comfyui",
            "openai",
            "elevenlabs",
        ] {
            let Some(account) = providers.account(name) else {
                continue;
            };
            let key = |field: &str| format!("providers.{name}.{field}");
            if let Some(url) = &account.base_url {
                let ok = Url::parse(url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                p.check(ok, &key("base_url"), "must be an http(s) URL");
            }
            if let Some(url) = &account.webhook_jwks_url {
                p.check(
                    Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")),
                    &key("webhook_jwks_url"),
                    "must be an http(s) URL",
                );
            }
            p.check(
                account.webhook_secret.is_none() || matches!(name, "replicate" | "kie"),
                &key("webhook_secret"),
                "only Replicate and KieAI sign webhooks with a shared secret",
            );
            p.check(
                account.webhook_jwks_url.is_none() || name == "fal",
                &key("webhook_jwks_url"),
                "only fal signs webhooks with a key set",
            );
            p.check(
                account.workflow_file.is_none() || name == "comfyui",
                &key("workflow_file"),
                "only ComfyUI takes a workflow",
            );
            p.check(
                (account.chat_model.is_none() && !account.transcribe_voice) || name == "openai",
                &key("chat_model"),
                "only the OpenAI-compatible account writes prompts or transcribes",
            );
            p.check(
                !account.speech || name == "openai",
                &key("speech"),
                "only OpenAI's speech voices are switched on this way (ElevenLabs by its key)",
            );
            p.check(
                account.speech_model.is_none() || name == "elevenlabs",
                &key("speech_model"),
                "only ElevenLabs takes a speech model",
            );
        }
        if providers.comfyui.base_url.is_some() != providers.comfyui.workflow_file.is_some() {
            p.add(
                "providers.comfyui.workflow_file",
                "ComfyUI needs both base_url and workflow_file",
            );
        }
        p.check(
            providers.timeout_seconds >= 1,
            "providers.timeout_seconds",
            "must be at least 1",
        );
        p.check(
            providers.max_resubmissions <= 5,
            "providers.max_resubmissions",
            "must be between 0 and 5",
        );
        p.check(
            (1..=10).contains(&providers.max_attempts),
            "providers.max_attempts",
            "must be between 1 and 10",
        );
        p.check(
            providers.poll_seconds >= 1,
            "providers.poll_seconds",
            "must be at least 1",
        );
        p.check(
            providers.max_wait_minutes >= 1,
            "providers.max_wait_minutes",
            "must be at least 1",
        );
        p.check(
            providers.max_output_mib >= 1,
            "providers.max_output_mib",
            "must be at least 1",
        );
        p.check(
            self.credits.signup_grant >= 0,
            "credits.signup_grant",
            "must not be negative",
        );
        p.check(
            !self.privacy.policy_version.trim().is_empty(),
            "privacy.policy_version",
            "must not be empty",
        );
    }

    fn validate_uploads(&self, p: &mut Problems) {
        let u = &self.uploads;
        p.check(
            u.decode_concurrency >= 1,
            "uploads.decode_concurrency",
            "must be at least 1",
        );
        p.check(
            u.rate_limit.count >= 1 && u.rate_limit.window_seconds >= 1,
            "uploads.rate_limit",
            "count and window_seconds must be at least 1",
        );
        p.check(
            u.quota_bytes >= 1,
            "uploads.quota_bytes",
            "must be at least 1",
        );
    }

    fn validate_retention(&self, p: &mut Problems) {
        let r = &self.retention;
        p.check(
            r.video_days != Some(0),
            "retention.video_days",
            "must be at least 1; leave it unset to keep videos until their owner deletes them",
        );
        p.check(
            r.logs_months >= 1,
            "retention.logs_months",
            "must be at least 1",
        );
        p.check(
            r.purge_days <= MAX_PURGE_DAYS,
            "retention.purge_days",
            &format!(
                "must be at most {MAX_PURGE_DAYS}: deleted accounts are promised a purge within {MAX_PURGE_DAYS} days (P-RET-4)"
            ),
        );
        p.check(
            r.sweep_minutes >= 1,
            "retention.sweep_minutes",
            "must be at least 1",
        );
        p.check(
            r.export_hours >= 1,
            "retention.export_hours",
            "must be at least 1",
        );
        p.check(
            r.draft_days >= 1,
            "retention.draft_days",
            "must be at least 1",
        );
    }
}

fn validate_rate_limit(p: &mut Problems, name: &str, limit: RateLimit) {
    p.check(
        limit.count >= 1,
        &format!("rate_limits.{name}.count"),
        "must be at least 1",
    );
    p.check(
        limit.window_seconds >= 1,
        &format!("rate_limits.{name}.window_seconds"),
        "must be at least 1",
    );
}

/// `local@domain` or `Display Name <local@domain>`: enough to catch a typo in the setting; the
/// mail crate parses it properly when it builds a message.
fn looks_like_mailbox(from: &str) -> bool {
    let address = match (from.find('<'), from.rfind('>')) {
        (Some(open), Some(close)) if open < close && close == from.len() - 1 => {
            &from[open + 1..close]
        }
        (None, None) => from,
        _ => return false,
    };
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_mailbox;

    #[test]
    fn mailbox_forms() {
        assert!(looks_like_mailbox("a@b"));
        assert!(looks_like_mailbox("Reelsmith <noreply@example.org>"));
        assert!(!looks_like_mailbox("no-at-sign"));
        assert!(!looks_like_mailbox("Name <a@b"));
        assert!(!looks_like_mailbox("a@b@c"));
        assert!(!looks_like_mailbox("a b@c"));
    }
}
