//! Sign-in through outside identity providers (P-ACC-4): the identities linked to accounts, the
//! sign-ins under way at a provider, and the people a provider vouched for who still have a step
//! to take (choose a username, or sign in to the account their address matches).
//!
//! Nothing here holds a provider's tokens: only the subject and address they asserted.

use crate::audit::AuditEntry;
use crate::db::{new_id, with_pool, BeginWrite, Db, UnixMillis};
use crate::error::{corrupt_json, unique_violation_on, StoreError, StoreResult};
use crate::users::{NewUser, User};

/// Inserts an [`OidcIdentity`] through any executor of either backend.
macro_rules! insert_identity {
    ($executor:expr, $identity:expr) => {
        sqlx::query(
            "INSERT INTO oidc_identities (id, user_id, provider, subject, email, created_at, \
             last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&$identity.id)
        .bind(&$identity.user_id)
        .bind(&$identity.provider)
        .bind(&$identity.subject)
        .bind(&$identity.email)
        .bind($identity.created_at)
        .bind($identity.last_used_at)
        .execute($executor)
        .await
        .map(|_| ())
    };
}

/// A provider account linked to one of ours.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OidcIdentity {
    pub id: String,
    pub user_id: String,
    /// The `[[oidc]]` entry's id.
    pub provider: String,
    /// The provider's stable id for the person (`sub`, or GitHub's numeric user id).
    pub subject: String,
    /// The verified address the provider gave at the latest sign-in.
    pub email: String,
    pub created_at: UnixMillis,
    pub last_used_at: UnixMillis,
}

/// A sign-in under way at a provider.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OidcFlow {
    pub state_hash: String,
    pub provider: String,
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Set when a signed-in person links another provider from the Account page.
    pub link_user_id: Option<String>,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
}

/// Someone a provider vouched for, with a step still to take.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OidcPending {
    pub token_hash: String,
    pub provider: String,
    pub subject: String,
    pub email: String,
    pub display_name: String,
    /// The existing account whose address matched: linking waits for its owner to sign in.
    pub link_user_id: Option<String>,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
}

/// What unlinking did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlinkOutcome {
    Unlinked,
    NotFound,
    /// The account has no password and no other identity: it could no longer be signed in to.
    LastSignInMethod,
}

const IDENTITY_COLUMNS: &str = "id, user_id, provider, subject, email, created_at, last_used_at";
const FLOW_COLUMNS: &str = "state_hash, provider, browser_hash, nonce, pkce_verifier, \
    link_user_id, created_at, expires_at";
const PENDING_COLUMNS: &str = "token_hash, provider, subject, email, display_name, \
    link_user_id, created_at, expires_at";

impl Db {
    /// Record a sign-in sent to a provider. Expired flows and pending steps go at the same time,
    /// so abandoned sign-ins do not pile up.
    pub async fn oidc_flow_create(&self, flow: &OidcFlow) -> StoreResult<()> {
        let now = flow.created_at;
        with_pool!(self, pool => async {
            sqlx::query("DELETE FROM oidc_flows WHERE expires_at <= $1")
                .bind(now).execute(pool).await?;
            sqlx::query("DELETE FROM oidc_pending WHERE expires_at <= $1")
                .bind(now).execute(pool).await?;
            sqlx::query(
                "INSERT INTO oidc_flows (state_hash, provider, browser_hash, nonce, pkce_verifier, \
                 link_user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&flow.state_hash).bind(&flow.provider).bind(&flow.browser_hash)
            .bind(&flow.nonce).bind(&flow.pkce_verifier).bind(&flow.link_user_id)
            .bind(flow.created_at).bind(flow.expires_at)
            .execute(pool).await?;
            Ok::<(), StoreError>(())
        }.await)
    }

    /// Use up the flow with this state: it is handed out once, and only before it expires, so a
    /// replayed or forged `state` finds nothing.
    pub async fn oidc_flow_take(
        &self,
        state_hash: &str,
        now: UnixMillis,
    ) -> StoreResult<Option<OidcFlow>> {
        let sql = format!(
            "UPDATE oidc_flows SET used_at = $2 WHERE state_hash = $1 AND used_at IS NULL \
             AND expires_at > $2 RETURNING {FLOW_COLUMNS}"
        );
        Ok(with_pool!(self, pool => sqlx::query_as::<_, OidcFlow>(&sql)
            .bind(state_hash).bind(now).fetch_optional(pool).await)?)
    }

    pub async fn oidc_identity_by_subject(
        &self,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<OidcIdentity>> {
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS} FROM oidc_identities WHERE provider = $1 AND subject = $2"
        );
        Ok(
            with_pool!(self, pool => sqlx::query_as::<_, OidcIdentity>(&sql)
            .bind(provider).bind(subject).fetch_optional(pool).await)?,
        )
    }

    pub async fn oidc_identities_of(&self, user_id: &str) -> StoreResult<Vec<OidcIdentity>> {
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS} FROM oidc_identities WHERE user_id = $1 \
             ORDER BY created_at, id"
        );
        Ok(
            with_pool!(self, pool => sqlx::query_as::<_, OidcIdentity>(&sql)
            .bind(user_id).fetch_all(pool).await)?,
        )
    }

    /// Note a sign-in through the identity, with the address the provider gave this time.
    pub async fn oidc_identity_used(
        &self,
        id: &str,
        email: &str,
        now: UnixMillis,
    ) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(
            "UPDATE oidc_identities SET last_used_at = $2, email = $3 WHERE id = $1")
            .bind(id).bind(now).bind(email).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Link a provider account to `user_id`. `None` when that provider account is already linked
    /// to an account (this one or another): it is never moved.
    pub async fn oidc_link(
        &self,
        user_id: &str,
        provider: &str,
        subject: &str,
        email: &str,
        now: UnixMillis,
    ) -> StoreResult<Option<OidcIdentity>> {
        let identity = OidcIdentity {
            id: new_id(),
            user_id: user_id.to_owned(),
            provider: provider.to_owned(),
            subject: subject.to_owned(),
            email: email.to_owned(),
            created_at: now,
            last_used_at: now,
        };
        let inserted = with_pool!(self, pool => insert_identity!(pool, identity));
        match inserted {
            Ok(()) => Ok(Some(identity)),
            Err(err) if unique_violation_on(&err).is_some() => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Remove one of the account's identities, unless nothing would be left to sign in with.
    pub async fn oidc_unlink(
        &self,
        user_id: &str,
        identity_id: &str,
    ) -> StoreResult<UnlinkOutcome> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let owned: Option<(String,)> = sqlx::query_as(
                "SELECT id FROM oidc_identities WHERE id = $1 AND user_id = $2")
                .bind(identity_id).bind(user_id).fetch_optional(&mut *tx).await?;
            if owned.is_none() {
                return Ok::<UnlinkOutcome, StoreError>(UnlinkOutcome::NotFound);
            }
            let (others,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM oidc_identities WHERE user_id = $1 AND id <> $2")
                .bind(user_id).bind(identity_id).fetch_one(&mut *tx).await?;
            let (passwords,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM users WHERE id = $1 AND password_hash IS NOT NULL")
                .bind(user_id).fetch_one(&mut *tx).await?;
            if others == 0 && passwords == 0 {
                return Ok(UnlinkOutcome::LastSignInMethod);
            }
            sqlx::query("DELETE FROM oidc_identities WHERE id = $1")
                .bind(identity_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(UnlinkOutcome::Unlinked)
        }.await)
    }

    pub async fn oidc_pending_create(&self, pending: &OidcPending) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO oidc_pending (token_hash, provider, subject, email, display_name, \
             link_user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&pending.token_hash).bind(&pending.provider).bind(&pending.subject)
            .bind(&pending.email).bind(&pending.display_name).bind(&pending.link_user_id)
            .bind(pending.created_at).bind(pending.expires_at)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn oidc_pending(
        &self,
        token_hash: &str,
        now: UnixMillis,
    ) -> StoreResult<Option<OidcPending>> {
        let sql = format!(
            "SELECT {PENDING_COLUMNS} FROM oidc_pending WHERE token_hash = $1 AND expires_at > $2"
        );
        Ok(
            with_pool!(self, pool => sqlx::query_as::<_, OidcPending>(&sql)
            .bind(token_hash).bind(now).fetch_optional(pool).await)?,
        )
    }

    /// Create the account a first sign-in asked for, its verified address and its identity, in
    /// one transaction that also uses up the pending step. `Ok(None)` when the step is gone (used
    /// or expired), or the provider account got linked meanwhile; a taken username or address
    /// fails as [`Db::create_user`] does, leaving the step to try again.
    pub async fn oidc_create_user(
        &self,
        token_hash: &str,
        new: &NewUser,
        now: UnixMillis,
    ) -> StoreResult<Option<User>> {
        let user_id = new_id();
        let done = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let sql = format!(
                "DELETE FROM oidc_pending WHERE token_hash = $1 AND expires_at > $2 \
                 AND link_user_id IS NULL RETURNING {PENDING_COLUMNS}"
            );
            let Some(pending) = sqlx::query_as::<_, OidcPending>(&sql)
                .bind(token_hash).bind(now).fetch_optional(&mut *tx).await? else {
                return Ok::<bool, sqlx::Error>(false);
            };
            sqlx::query(
                "INSERT INTO users (id, email, email_norm, username, username_norm, password_hash, \
                 display_name, role, birth_year, age_confirmed_min, email_verified_at, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9, $10, $10, $10)",
            )
            .bind(&user_id).bind(new.email.trim()).bind(new.email.trim().to_lowercase())
            .bind(new.username.trim()).bind(new.username.trim().to_lowercase())
            .bind(&new.display_name).bind(new.role.as_str()).bind(new.birth_year)
            .bind(new.age_confirmed_min).bind(now)
            .execute(&mut *tx).await?;
            let identity = OidcIdentity {
                id: new_id(),
                user_id: user_id.clone(),
                provider: pending.provider,
                subject: pending.subject,
                email: pending.email,
                created_at: now,
                last_used_at: now,
            };
            insert_identity!(&mut *tx, identity)?;
            tx.commit().await?;
            Ok(true)
        }.await);
        match done {
            Ok(true) => self.user_by_id(&user_id).await,
            Ok(false) => Ok(None),
            Err(err) => Err(match unique_violation_on(&err) {
                Some(what) if what.contains("email_norm") => StoreError::EmailTaken,
                Some(what) if what.contains("username_norm") => StoreError::UsernameTaken,
                Some(_) => return Ok(None),
                None => StoreError::Database(err),
            }),
        }
    }

    /// Link the pending identity to the account its address matched, now that the account's
    /// owner has signed in as `user_id`. `None` when no such step waits for that account.
    pub async fn oidc_link_pending(
        &self,
        token_hash: &str,
        user_id: &str,
        now: UnixMillis,
    ) -> StoreResult<Option<OidcIdentity>> {
        let linked = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let sql = format!(
                "DELETE FROM oidc_pending WHERE token_hash = $1 AND expires_at > $2 \
                 AND link_user_id = $3 RETURNING {PENDING_COLUMNS}"
            );
            let Some(pending) = sqlx::query_as::<_, OidcPending>(&sql)
                .bind(token_hash).bind(now).bind(user_id).fetch_optional(&mut *tx).await? else {
                return Ok::<Option<OidcIdentity>, sqlx::Error>(None);
            };
            let identity = OidcIdentity {
                id: new_id(),
                user_id: user_id.to_owned(),
                provider: pending.provider,
                subject: pending.subject,
                email: pending.email,
                created_at: now,
                last_used_at: now,
            };
            insert_identity!(&mut *tx, identity)?;
            tx.commit().await?;
            Ok(Some(identity))
        }.await);
        match linked {
            Ok(identity) => Ok(identity),
            Err(err) if unique_violation_on(&err).is_some() => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// The latest audit entries of one kind, whoever they concern (refused sign-ins often
    /// concern no account).
    pub async fn audit_of_kind(&self, kind: &str, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        type Row = (
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
        );
        let rows: Vec<Row> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, kind, user_id, ip, user_agent, detail_json, created_at FROM audit_log \
             WHERE kind = $1 ORDER BY id DESC LIMIT $2")
            .bind(kind).bind(limit).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(id, kind, user_id, ip, user_agent, detail, created_at)| -> StoreResult<AuditEntry> {
                let detail = detail
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(|e| corrupt_json("audit detail", e))?;
                Ok(AuditEntry { id, kind, user_id, ip, user_agent, detail, created_at })
            })
            .collect()
    }
}
