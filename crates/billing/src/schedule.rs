//! The scheduler's billing round, run by every worker (P-BILL-2): plans whose period ended roll
//! over, open checkouts past their lifetime expire, each user gets their plan's credits for the
//! month once (the grant's key is the user, the month and the plan, so several workers and
//! restarts grant once), and payment records detached from purged accounts are deleted once
//! their legal period is over (P-RET-4).

use reelsmith_config::BillingConfig;
use reelsmith_store::{Db, StoreResult};

use crate::limits::{effective_plan, monthly_credits};
use crate::month_key;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoundReport {
    pub plans_rolled: u64,
    pub checkouts_expired: u64,
    pub users_granted: u64,
    pub credits_granted: i64,
    pub payments_purged: u64,
}

const PAGE: u32 = 500;
const YEAR_MS: i64 = 365 * 24 * 3600 * 1000 + 6 * 3600 * 1000;

pub async fn round(db: &Db, config: &BillingConfig, now: i64) -> StoreResult<RoundReport> {
    let mut report = RoundReport {
        plans_rolled: db.roll_plans(now).await?,
        checkouts_expired: db.expire_checkouts(now).await?,
        ..RoundReport::default()
    };
    let month = month_key(now);
    let mut after = String::new();
    loop {
        let users = db.users_with_plans(&after, PAGE).await?;
        let Some((last, _)) = users.last() else { break };
        after = last.clone();
        for (user_id, row) in &users {
            // A subscription whose payment failed keeps its plan's limits until it ends, but
            // earns no new month of credits.
            if row.as_ref().is_some_and(|r| r.status != "active") {
                continue;
            }
            let plan = effective_plan(config, row.as_ref());
            if let Some(credits) = monthly_credits(plan) {
                let n = db
                    .grant_plan_credits(user_id, &plan.id, credits, &month, now)
                    .await?;
                if n > 0 {
                    report.users_granted += 1;
                    report.credits_granted += n;
                }
            }
        }
        if users.len() < PAGE as usize {
            break;
        }
    }
    let cutoff = now - i64::from(config.payment_records_years) * YEAR_MS;
    report.payments_purged = db.purge_detached_payments(cutoff).await?;
    Ok(report)
}
