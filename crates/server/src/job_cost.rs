//! What a job cost over its revisions, as the job view shows it: a type the job and credit
//! endpoints share, kept apart so neither module depends on the other for it.

use reelsmith_store::CreditHold;
use serde::Serialize;
use utoipa::ToSchema;

/// One revision's reserved cost and what became of it.
#[derive(Serialize, ToSchema)]
pub struct HoldView {
    pub revision: i64,
    pub amount: i64,
    /// `held` (reserved while the revision is queued or running), `charged` (it succeeded) or
    /// `released` (it failed, was cancelled or replaced: the amount was refunded).
    pub state: String,
}

/// A job's credits over all its revisions.
#[derive(Serialize, ToSchema)]
pub struct JobCost {
    /// Reserved by revisions that have not finished yet.
    pub reserved: i64,
    /// Spent on revisions that succeeded.
    pub charged: i64,
    /// Given back for revisions that did not complete.
    pub refunded: i64,
    pub revisions: Vec<HoldView>,
}

impl JobCost {
    pub fn from_holds(holds: &[CreditHold]) -> JobCost {
        let sum = |state: &str| {
            holds
                .iter()
                .filter(|h| h.state == state)
                .map(|h| h.amount)
                .sum()
        };
        JobCost {
            reserved: sum("held"),
            charged: sum("charged"),
            refunded: sum("released"),
            revisions: holds
                .iter()
                .map(|h| HoldView {
                    revision: h.revision,
                    amount: h.amount,
                    state: h.state.clone(),
                })
                .collect(),
        }
    }
}
