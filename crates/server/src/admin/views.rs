//! What the console shows, read once for both its pages and its JSON API. Nothing here carries
//! a password hash, a token or a TOTP secret: the views are built field by field.

use reelsmith_store::{AuditEntry, AuditFilter, Job, Session, StaffUserRow};
use serde::Serialize;

use crate::error::ApiResult;
use crate::time::rfc3339;
use crate::AppState;

fn when(ms: Option<i64>) -> Option<String> {
    ms.map(rfc3339)
}

#[derive(Serialize, Clone)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub email_verified: bool,
    pub created_at: String,
    pub deleted_at: Option<String>,
    pub suspended_at: Option<String>,
    pub totp_enabled: bool,
}

impl From<StaffUserRow> for UserView {
    fn from(u: StaffUserRow) -> UserView {
        UserView {
            id: u.id,
            email: u.email,
            username: u.username,
            display_name: u.display_name,
            role: u.role,
            email_verified: u.email_verified_at.is_some(),
            created_at: rfc3339(u.created_at),
            deleted_at: when(u.deleted_at),
            suspended_at: when(u.suspended_at),
            totp_enabled: u.totp_enabled_at.is_some(),
        }
    }
}

impl UserView {
    /// `active`, `suspended` or `deleted`, for the tables.
    pub fn state(&self) -> &'static str {
        if self.deleted_at.is_some() {
            "deleted"
        } else if self.suspended_at.is_some() {
            "suspended"
        } else {
            "active"
        }
    }
}

#[derive(Serialize, Clone)]
pub struct SessionView {
    pub id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub ip: String,
    pub user_agent: String,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> SessionView {
        SessionView {
            id: s.id,
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            ip: s.ip.unwrap_or_default(),
            user_agent: s.user_agent.unwrap_or_default(),
        }
    }
}

#[derive(Serialize, Clone)]
pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub user_id: String,
    pub ip: String,
    pub user_agent: String,
    pub detail: String,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> AuditView {
        AuditView {
            id: e.id,
            at: rfc3339(e.created_at),
            kind: e.kind,
            user_id: e.user_id.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            user_agent: e.user_agent.unwrap_or_default(),
            detail: e.detail.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

#[derive(Serialize)]
pub struct UserDetail {
    pub user: UserView,
    pub credits: i64,
    pub sessions: Vec<SessionView>,
    pub api_tokens: usize,
    pub recovery_codes_left: i64,
    pub recent_audit: Vec<AuditView>,
}

pub async fn users(state: &AppState, query: &str) -> ApiResult<Vec<UserView>> {
    Ok(state
        .db
        .staff_users(query, 200)
        .await?
        .into_iter()
        .map(UserView::from)
        .collect())
}

pub async fn user_detail(state: &AppState, id: &str) -> ApiResult<Option<UserDetail>> {
    let Some(row) = state.db.staff_user(id).await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    let tokens = state.db.list_api_tokens(id).await?;
    Ok(Some(UserDetail {
        user: row.into(),
        credits: state.db.credit_balance(id).await?,
        sessions: state
            .db
            .list_sessions(id, now)
            .await?
            .into_iter()
            .map(SessionView::from)
            .collect(),
        api_tokens: tokens.iter().filter(|t| t.revoked_at.is_none()).count(),
        recovery_codes_left: state.db.recovery_codes_left(id).await?,
        recent_audit: state
            .db
            .audit_for_user(id, 20, None)
            .await?
            .into_iter()
            .map(AuditView::from)
            .collect(),
    }))
}

#[derive(Serialize, Clone)]
pub struct JobView {
    pub id: String,
    pub owner_id: String,
    pub status: String,
    pub stage: String,
    pub progress: u32,
    pub provider: String,
    pub error_code: String,
    pub error_message: String,
    pub attempts: i64,
    pub lease_owner: String,
    pub lease_expires_at: String,
    pub created_at: String,
    pub updated_at: String,
}

impl JobView {
    pub fn can_retry(&self) -> bool {
        self.status == "failed"
    }

    pub fn can_cancel(&self) -> bool {
        matches!(self.status.as_str(), "queued" | "running")
    }
}

fn provider_of(params: &serde_json::Value) -> String {
    params
        .get("provider")
        .and_then(|p| p.as_str())
        .unwrap_or("studio")
        .to_owned()
}

impl From<Job> for JobView {
    fn from(j: Job) -> JobView {
        let (error_code, error_message) = j.error.map(|e| (e.code, e.message)).unwrap_or_default();
        JobView {
            provider: provider_of(&j.params),
            id: j.id,
            owner_id: j.owner_id,
            status: j.status.as_str().to_owned(),
            stage: j.stage.unwrap_or_default(),
            progress: (j.progress.clamp(0.0, 1.0) * 100.0).round() as u32,
            error_code,
            error_message,
            attempts: j.attempts,
            lease_owner: j.lease_owner.unwrap_or_default(),
            lease_expires_at: j.lease_expires_at.map(rfc3339).unwrap_or_default(),
            created_at: rfc3339(j.created_at),
            updated_at: rfc3339(j.updated_at),
        }
    }
}

/// The job statuses a filter may name.
pub const JOB_STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

#[derive(Serialize)]
pub struct QueueView {
    pub jobs: Vec<JobView>,
    /// Running jobs by the worker holding their lease.
    pub leases: Vec<LeaseView>,
}

#[derive(Serialize, Clone)]
pub struct LeaseView {
    pub worker: String,
    pub jobs: usize,
    pub latest_expiry: String,
}

pub async fn queue(state: &AppState, status: Option<&str>) -> ApiResult<QueueView> {
    let status = status.filter(|s| JOB_STATUSES.contains(s));
    let jobs: Vec<JobView> = state
        .db
        .staff_jobs(status, 200)
        .await?
        .into_iter()
        .map(JobView::from)
        .collect();
    let running: Vec<JobView> = state
        .db
        .staff_jobs(Some("running"), 500)
        .await?
        .into_iter()
        .map(JobView::from)
        .collect();
    let mut leases: Vec<LeaseView> = Vec::new();
    for job in running.iter().filter(|j| !j.lease_owner.is_empty()) {
        match leases.iter_mut().find(|l| l.worker == job.lease_owner) {
            Some(lease) => {
                lease.jobs += 1;
                if job.lease_expires_at > lease.latest_expiry {
                    lease.latest_expiry = job.lease_expires_at.clone();
                }
            }
            None => leases.push(LeaseView {
                worker: job.lease_owner.clone(),
                jobs: 1,
                latest_expiry: job.lease_expires_at.clone(),
            }),
        }
    }
    Ok(QueueView { jobs, leases })
}

#[derive(Serialize, Clone)]
pub struct ProviderLine {
    pub name: String,
    pub label: String,
    pub configured: bool,
    pub failures_7d: usize,
    pub spend_30d: i64,
}

#[derive(Serialize, Clone)]
pub struct FailureView {
    pub job_id: String,
    pub provider: String,
    pub error_code: String,
    pub at: String,
}

#[derive(Serialize)]
pub struct ProvidersOverview {
    pub providers: Vec<ProviderLine>,
    pub recent_failures: Vec<FailureView>,
}

pub async fn providers(state: &AppState) -> ApiResult<ProvidersOverview> {
    let now = state.clock.now();
    let failures: Vec<FailureView> = state
        .db
        .failed_jobs_since(now - 7 * 86_400_000, 200)
        .await?
        .into_iter()
        .map(|f| FailureView {
            provider: serde_json::from_str(&f.params_json)
                .map(|p| provider_of(&p))
                .unwrap_or_else(|_| "studio".into()),
            job_id: f.id,
            error_code: f.error_code.unwrap_or_default(),
            at: rfc3339(f.updated_at),
        })
        .collect();
    let spend = state.db.spend_by_job_since(now - 30 * 86_400_000).await?;
    let mut names: Vec<&str> = vec!["studio"];
    names.extend(reelsmith_config::SHOT_PROVIDERS);
    names.push("openai");
    let providers = names
        .into_iter()
        .map(|name| ProviderLine {
            name: name.to_owned(),
            label: crate::providers::label(name).to_owned(),
            configured: name == "studio" || state.config.providers.is_enabled(name),
            failures_7d: failures.iter().filter(|f| f.provider == name).count(),
            spend_30d: spend
                .iter()
                .filter(|(params, _)| {
                    serde_json::from_str(params)
                        .map(|p| provider_of(&p) == name)
                        .unwrap_or(false)
                })
                .map(|(_, credits)| credits)
                .sum(),
        })
        .collect();
    Ok(ProvidersOverview {
        providers,
        recent_failures: failures,
    })
}

pub async fn audit(state: &AppState, filter: &AuditFilter) -> ApiResult<Vec<AuditView>> {
    Ok(state
        .db
        .audit_search(filter)
        .await?
        .into_iter()
        .map(AuditView::from)
        .collect())
}

/// The audit log as CSV. A cell that a spreadsheet would run as a formula is prefixed with `'`.
pub fn audit_csv(rows: &[AuditView]) -> String {
    fn cell(text: &str) -> String {
        let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{text}")
        } else {
            text.to_owned()
        };
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    }
    let mut out = String::from("id,at,kind,user_id,ip,user_agent,detail\r\n");
    for r in rows {
        let id = r.id.to_string();
        let line: Vec<String> = [
            &id,
            &r.at,
            &r.kind,
            &r.user_id,
            &r.ip,
            &r.user_agent,
            &r.detail,
        ]
        .iter()
        .map(|c| cell(c))
        .collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[derive(Serialize, Clone)]
pub struct PolicyLine {
    pub kind: String,
    pub version: String,
    pub summary: String,
    pub material: bool,
    pub published_at: String,
    pub notified: i64,
}

#[derive(Serialize, Clone)]
pub struct RightsLine {
    pub id: String,
    pub kind: String,
    pub requester_email: String,
    pub received_at: String,
    pub due_at: String,
    pub overdue: bool,
    pub identity_checked: bool,
    pub status: String,
}

#[derive(Serialize, Clone)]
pub struct BreachLine {
    pub id: String,
    pub subject: String,
    pub sent: i64,
    pub failed: i64,
    pub first_sent_at: String,
    pub last_sent_at: String,
}

#[derive(Serialize)]
pub struct PrivacyOverview {
    pub policies: Vec<PolicyLine>,
    pub rights: Vec<RightsLine>,
    pub breaches: Vec<BreachLine>,
    pub video_days: Option<u32>,
    pub uploads: String,
    pub logs_months: u32,
    pub purge_days: u32,
    pub sweep_minutes: u32,
    /// When the next account purge is due, if an account awaits one.
    pub next_purge: Option<String>,
}

pub async fn privacy(state: &AppState) -> ApiResult<PrivacyOverview> {
    let now = state.clock.now();
    let r = &state.config.retention;
    let policies = state
        .db
        .policy_history()
        .await?
        .into_iter()
        .map(|v| PolicyLine {
            kind: v.kind.as_str().to_owned(),
            version: v.version,
            summary: v.summary,
            material: v.material,
            published_at: rfc3339(v.published_at),
            notified: v.notified,
        })
        .collect();
    let rights = state
        .db
        .rights_requests(false)
        .await?
        .into_iter()
        .map(|q| RightsLine {
            overdue: q.status == "open" && q.due_at < now,
            id: q.id,
            kind: q.kind,
            requester_email: q.requester_email,
            received_at: rfc3339(q.received_at),
            due_at: rfc3339(q.due_at),
            identity_checked: q.identity_checked_at.is_some(),
            status: q.status,
        })
        .collect();
    let breaches = state
        .db
        .breach_notices()
        .await?
        .into_iter()
        .map(|b| BreachLine {
            id: b.notice.id.clone(),
            subject: b.notice.subject.clone(),
            sent: b.sent,
            failed: b.failed,
            first_sent_at: when(b.first_sent_at).unwrap_or_default(),
            last_sent_at: when(b.last_sent_at).unwrap_or_default(),
        })
        .collect();
    let next_purge = state
        .db
        .earliest_pending_deletion()
        .await?
        .map(|at| rfc3339(at + i64::from(r.purge_days) * 86_400_000));
    Ok(PrivacyOverview {
        policies,
        rights,
        breaches,
        video_days: r.video_days,
        uploads: match r.uploads {
            reelsmith_config::UploadRetention::UntilJobEnds => "until the job ends".into(),
            reelsmith_config::UploadRetention::WithVideo => "with the video".into(),
        },
        logs_months: r.logs_months,
        purge_days: r.purge_days,
        sweep_minutes: r.sweep_minutes,
        next_purge,
    })
}
