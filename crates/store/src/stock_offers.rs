//! The pictures a storyboard's searches offered (issue 25, migration 0027): each candidate is
//! kept under an id of ours, and a scene names a pick only by that id, looked up for the same
//! draft and owner, so a client can neither inject a URL nor use another user's pick. Searches
//! made while the storyboard is a draft are logged under its id (`draft_id`) and join the job's
//! transfer log when it renders (P-TP-4).

use serde_json::Value;

use crate::db::{new_id, with_pool, BeginWrite, Db, UnixMillis};
use crate::error::StoreResult;
use crate::jobs::parse_json;

/// One offered candidate (`reelsmith_stock::Candidate` as JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct StockOffer {
    pub id: String,
    pub job_id: String,
    pub scene: i64,
    pub source: String,
    pub candidate: Value,
}

impl Db {
    /// Keeps `candidates` (source, JSON) offered for scene `scene` of the owner's draft `job_id`;
    /// returns their ids in the same order.
    pub async fn add_stock_offers(
        &self,
        owner_id: &str,
        job_id: &str,
        scene: i64,
        candidates: &[(String, Value)],
        now: UnixMillis,
    ) -> StoreResult<Vec<String>> {
        let sql = "INSERT INTO stock_offers (id, job_id, owner_id, scene, source, \
            candidate_json, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let ids: Vec<String> = candidates.iter().map(|_| new_id()).collect();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            for (id, (source, candidate)) in ids.iter().zip(candidates) {
                sqlx::query(sql).bind(id).bind(job_id).bind(owner_id).bind(scene)
                    .bind(source).bind(candidate.to_string()).bind(now)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, crate::error::StoreError>(())
        }.await)?;
        Ok(ids)
    }

    /// The offer `id` made for the owner's job `job_id`; `None` for an unknown id, another
    /// job's or another user's.
    pub async fn stock_offer(
        &self,
        owner_id: &str,
        job_id: &str,
        id: &str,
    ) -> StoreResult<Option<StockOffer>> {
        let sql = "SELECT id, job_id, scene, source, candidate_json FROM stock_offers \
            WHERE id = $1 AND job_id = $2 AND owner_id = $3";
        let row: Option<(String, String, i64, String, String)> = with_pool!(self, pool =>
            sqlx::query_as(sql).bind(id).bind(job_id).bind(owner_id).fetch_optional(pool).await)?;
        row.map(|(id, job_id, scene, source, json)| {
            Ok(StockOffer {
                candidate: parse_json("stock offer", &json)?,
                id,
                job_id,
                scene,
                source,
            })
        })
        .transpose()
    }

    /// Forgets every offer of the owner's job (the draft or the job is deleted).
    pub async fn delete_stock_offers(&self, owner_id: &str, job_id: &str) -> StoreResult<u64> {
        let sql = "DELETE FROM stock_offers WHERE job_id = $1 AND owner_id = $2";
        Ok(with_pool!(self, pool => sqlx::query(sql)
            .bind(job_id).bind(owner_id).execute(pool).await.map(|r| r.rows_affected()))?)
    }

    /// Logs a search about to leave for a stock provider while the storyboard `draft_id` is a
    /// draft (P-TP-4): no job exists yet, so it is the account's until
    /// [`Db::attach_draft_transfers`] moves it into the job's log.
    #[allow(clippy::too_many_arguments)]
    pub async fn log_draft_transfer(
        &self,
        user_id: &str,
        draft_id: &str,
        provider: &str,
        model: &str,
        purpose: &str,
        sent: &Value,
        now: UnixMillis,
    ) -> StoreResult<String> {
        let id = self
            .log_account_transfer(user_id, provider, model, purpose, sent, now)
            .await?;
        let sql = "UPDATE provider_transfers SET draft_id = $2 WHERE id = $1";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&id).bind(draft_id).execute(pool).await.map(|_| ()))?;
        Ok(id)
    }

    /// A request with no request id of the provider's ended: `delivered`, or the error code.
    pub async fn transfer_answered(
        &self,
        id: &str,
        outcome: &str,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let status = if outcome == "delivered" {
            "accepted"
        } else {
            "failed"
        };
        let sql = "UPDATE provider_transfers SET status = $2, outcome = $3, updated_at = $4 \
            WHERE id = $1";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(status).bind(outcome).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Moves the searches made for draft `job_id` into the log of the job it became.
    pub async fn attach_draft_transfers(&self, user_id: &str, job_id: &str) -> StoreResult<u64> {
        let sql = "UPDATE provider_transfers SET job_id = $1, revision = 1 \
            WHERE draft_id = $1 AND user_id = $2 AND job_id IS NULL";
        Ok(with_pool!(self, pool => sqlx::query(sql)
            .bind(job_id).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?)
    }
}
