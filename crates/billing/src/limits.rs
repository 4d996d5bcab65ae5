//! A plan's limits, checked where jobs are accepted (P-BILL-2). Each refusal has a stable code
//! (`plan.<limit>`) and names the plan and the limit.

use reelsmith_config::{BillingConfig, Plan, PlanKind};
use reelsmith_core::Code;
use reelsmith_store::UserPlan;

/// The plan in force for a user with this plan row (none: the default plan). A row naming a plan
/// the operator has since removed falls back to the default plan rather than to no limits.
pub fn effective_plan<'c>(config: &'c BillingConfig, row: Option<&UserPlan>) -> &'c Plan {
    row.filter(|r| r.status != "canceled" || r.period_end.is_some())
        .and_then(|r| config.plan(&r.plan))
        .unwrap_or_else(|| config.default_plan())
}

/// What a job asks for, as far as plans limit it.
#[derive(Debug, Clone)]
pub struct JobFacts<'a> {
    /// `480p`, `720p` or `1080p`.
    pub resolution: &'a str,
    /// The planner's estimate of the video's length.
    pub seconds: f64,
    /// `studio` or a provider's name.
    pub provider: &'a str,
    /// The user's jobs already queued or running.
    pub active_jobs: i64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the {plan_name} plan allows {allowed}; this job asks for {asked}")]
pub struct LimitError {
    pub plan: String,
    pub plan_name: String,
    /// `max_resolution`, `max_video_seconds`, `concurrent_jobs` or `providers`.
    pub limit: &'static str,
    pub allowed: String,
    pub asked: String,
}

impl LimitError {
    pub fn code(&self) -> Code {
        match self.limit {
            "max_resolution" => Code::PlanMaxResolution,
            "max_video_seconds" => Code::PlanMaxVideoSeconds,
            "concurrent_jobs" => Code::PlanConcurrentJobs,
            _ => Code::PlanProviderNotAllowed,
        }
    }
}

fn resolution_rank(r: &str) -> u32 {
    match r {
        "480p" => 480,
        "720p" => 720,
        "1080p" => 1080,
        _ => u32::MAX,
    }
}

/// Every limit of `plan` the job breaks, the first one found.
pub fn check(plan: &Plan, job: &JobFacts<'_>) -> Result<(), LimitError> {
    let err = |limit, allowed: String, asked: String| LimitError {
        plan: plan.id.clone(),
        plan_name: plan.name.clone(),
        limit,
        allowed,
        asked,
    };
    let l = &plan.limits;
    if resolution_rank(job.resolution) > resolution_rank(&l.max_resolution) {
        return Err(err(
            "max_resolution",
            format!("videos up to {}", l.max_resolution),
            job.resolution.to_owned(),
        ));
    }
    if job.seconds > f64::from(l.max_video_seconds) {
        return Err(err(
            "max_video_seconds",
            format!("videos up to {} seconds", l.max_video_seconds),
            format!("about {:.0} seconds", job.seconds.ceil()),
        ));
    }
    if !l.providers.iter().any(|p| p == "*" || p == job.provider) {
        return Err(err(
            "providers",
            format!("the engines {}", l.providers.join(", ")),
            format!("`{}`", job.provider),
        ));
    }
    if job.active_jobs >= i64::from(l.concurrent_jobs) {
        return Err(err(
            "concurrent_jobs",
            format!("{} job(s) queued or running at once", l.concurrent_jobs),
            format!("one more besides your {}", job.active_jobs),
        ));
    }
    Ok(())
}

/// The plan's credits for one month, or none (Lifetime grants once, at purchase).
pub fn monthly_credits(plan: &Plan) -> Option<i64> {
    match plan.kind {
        PlanKind::Free | PlanKind::Subscription if plan.credits > 0 => Some(plan.credits),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_bill_2_free_limits_name_the_plan_and_the_limit() {
        let mut config = BillingConfig::default();
        config.plans[0].limits = reelsmith_config::PlanLimits {
            max_resolution: "720p".into(),
            max_video_seconds: 60,
            concurrent_jobs: 1,
            providers: vec!["studio".into(), "fal".into()],
            watermark: true,
        };
        let free = config.default_plan();
        let job = JobFacts {
            resolution: "1080p",
            seconds: 10.0,
            provider: "studio",
            active_jobs: 0,
        };
        let e = check(free, &job).unwrap_err();
        assert_eq!(e.code(), "plan.max_resolution");
        assert!(e.to_string().contains("Free"), "{e}");
        let ok = JobFacts {
            resolution: "720p",
            ..job.clone()
        };
        assert!(check(free, &ok).is_ok());
        let long = JobFacts {
            seconds: 61.0,
            ..ok.clone()
        };
        assert_eq!(
            check(free, &long).unwrap_err().code(),
            "plan.max_video_seconds"
        );
        let busy = JobFacts {
            active_jobs: 1,
            ..ok.clone()
        };
        assert_eq!(
            check(free, &busy).unwrap_err().code(),
            "plan.concurrent_jobs"
        );
        let veo = JobFacts {
            provider: "veo",
            ..ok.clone()
        };
        assert_eq!(
            check(free, &veo).unwrap_err().code(),
            "plan.provider_not_allowed"
        );
        let pro = config.plan("pro-monthly").unwrap();
        assert!(check(pro, &job).is_ok());
    }
}
