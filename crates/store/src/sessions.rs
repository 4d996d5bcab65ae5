//! Browser sessions and API tokens (P-ACC-6). Both are looked up by the SHA-256 of the secret
//! the client holds ([`crate::secret::sha256_hex`]); the secret itself is never stored.

use std::sync::LazyLock;

use crate::db::{new_id, qualified, with_pool, Db, UnixMillis};
use crate::error::StoreResult;
use crate::users::{User, UserRow, USER_COLUMNS};

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub created_at: UnixMillis,
    pub last_seen_at: UnixMillis,
    pub expires_at: UnixMillis,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// What starting a session records.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: String,
    pub token_hash: String,
    pub expires_at: UnixMillis,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A programmatic access token. `prefix` is the first characters of the secret, shown so the
/// person can tell tokens apart.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApiToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: UnixMillis,
    pub last_used_at: Option<UnixMillis>,
    pub revoked_at: Option<UnixMillis>,
}

const SESSION_COLUMNS: &str = "id, user_id, created_at, last_seen_at, expires_at, user_agent, ip";
/// How stale a token's `last_used_at` may get before a use writes it again.
pub const TOKEN_TOUCH_EVERY_MS: UnixMillis = 60_000;
const TOKEN_COLUMNS: &str = "id, user_id, name, prefix, created_at, last_used_at, revoked_at";

impl Db {
    /// Start a session.
    pub async fn create_session(&self, new: &NewSession, now: UnixMillis) -> StoreResult<Session> {
        let session = Session {
            id: new_id(),
            user_id: new.user_id.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: new.expires_at,
            user_agent: new.user_agent.clone(),
            ip: new.ip.clone(),
        };
        let sql = "INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, \
            expires_at, user_agent, ip) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&session.id).bind(&session.user_id).bind(&new.token_hash).bind(now)
            .bind(session.expires_at).bind(&session.user_agent).bind(&session.ip)
            .execute(pool).await.map(|_| ()))?;
        Ok(session)
    }

    /// The live session for a token hash and its user: `None` when unknown, expired, or the
    /// account is deleted or suspended. One query: every authenticated request asks this.
    pub async fn session_by_token_hash(
        &self,
        token_hash: &str,
        now: UnixMillis,
    ) -> StoreResult<Option<(Session, User)>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT s.id AS session_id, s.created_at AS session_created_at, \
                 s.last_seen_at AS session_last_seen_at, s.expires_at AS session_expires_at, \
                 s.user_agent AS session_user_agent, s.ip AS session_ip, {} \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.token_hash = $1 AND s.expires_at > $2 AND {LIVE_USER}",
                qualified("u", USER_COLUMNS)
            )
        });
        let row = with_pool!(self, pool => sqlx::query_as::<_, SessionUserRow>(SQL.as_str())
            .bind(token_hash).bind(now).fetch_optional(pool).await)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = row.user.into_user()?;
        let session = Session {
            id: row.session_id,
            user_id: user.id.clone(),
            created_at: row.session_created_at,
            last_seen_at: row.session_last_seen_at,
            expires_at: row.session_expires_at,
            user_agent: row.session_user_agent,
            ip: row.session_ip,
        };
        Ok(Some((session, user)))
    }

    /// Record activity and slide the expiry forward.
    pub async fn touch_session(
        &self,
        session_id: &str,
        expires_at: UnixMillis,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(session_id).bind(now).bind(expires_at)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// The user's unexpired sessions, newest first.
    pub async fn list_sessions(&self, user_id: &str, now: UnixMillis) -> StoreResult<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY id DESC"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, Session>(&sql)
            .bind(user_id).bind(now).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// End one of the user's sessions. `false` when it is not theirs or does not exist.
    pub async fn revoke_session(&self, user_id: &str, session_id: &str) -> StoreResult<bool> {
        let sql = "DELETE FROM sessions WHERE id = $1 AND user_id = $2";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(session_id).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// End every session of the user except `keep_session_id` (after a password change or reset,
    /// P-ACC-3). Returns how many ended.
    pub async fn revoke_other_sessions(
        &self,
        user_id: &str,
        keep_session_id: &str,
    ) -> StoreResult<u64> {
        let sql = "DELETE FROM sessions WHERE user_id = $1 AND id <> $2";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(keep_session_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// End every session of the user. Returns how many ended.
    pub async fn revoke_all_sessions(&self, user_id: &str) -> StoreResult<u64> {
        let n = with_pool!(self, pool => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// Remove expired sessions. Returns how many went.
    pub async fn purge_expired_sessions(&self, now: UnixMillis) -> StoreResult<u64> {
        let n = with_pool!(self, pool => sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// Create an API token from the hash and display prefix of a secret the caller generated.
    pub async fn create_api_token(
        &self,
        user_id: &str,
        name: &str,
        token_hash: &str,
        prefix: &str,
        now: UnixMillis,
    ) -> StoreResult<ApiToken> {
        let token = ApiToken {
            id: new_id(),
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        let sql = "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at) \
            VALUES ($1, $2, $3, $4, $5, $6)";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&token.id).bind(user_id).bind(name).bind(token_hash).bind(prefix).bind(now)
            .execute(pool).await.map(|_| ()))?;
        Ok(token)
    }

    /// The user's tokens, revoked ones included (they show as revoked), newest first.
    pub async fn list_api_tokens(&self, user_id: &str) -> StoreResult<Vec<ApiToken>> {
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id DESC");
        let rows = with_pool!(self, pool => sqlx::query_as::<_, ApiToken>(&sql)
            .bind(user_id).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Revoke one of the user's tokens. `false` when not theirs, unknown, or already revoked.
    pub async fn revoke_api_token(
        &self,
        user_id: &str,
        token_id: &str,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(token_id).bind(user_id).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Revoke every live API token of the user (after a password reset or change, P-ACC-3).
    /// Returns how many were revoked.
    pub async fn revoke_all_api_tokens(&self, user_id: &str, now: UnixMillis) -> StoreResult<u64> {
        let sql = "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// The unrevoked token with this hash and its (undeleted) user, marking it used at `now`.
    /// Finds a live API token by its hash and its owner. `last_used_at` is written at most once
    /// a minute per token, so authenticated reads do not each cost a database write; the third
    /// value says whether this use wrote it (the server audits those uses, P-SEC-6).
    pub async fn use_api_token(
        &self,
        token_hash: &str,
        now: UnixMillis,
    ) -> StoreResult<Option<(ApiToken, User, bool)>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT t.id AS token_id, t.name AS token_name, t.prefix AS token_prefix, \
                 t.created_at AS token_created_at, t.last_used_at AS token_last_used_at, {} \
                 FROM api_tokens t JOIN users u ON u.id = t.user_id \
                 WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND {LIVE_USER}",
                qualified("u", USER_COLUMNS)
            )
        });
        let row = with_pool!(self, pool => sqlx::query_as::<_, TokenUserRow>(SQL.as_str())
            .bind(token_hash).fetch_optional(pool).await)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = row.user.into_user()?;
        let mut token = ApiToken {
            id: row.token_id,
            user_id: user.id.clone(),
            name: row.token_name,
            prefix: row.token_prefix,
            created_at: row.token_created_at,
            last_used_at: row.token_last_used_at,
            revoked_at: None,
        };
        let touch = token
            .last_used_at
            .is_none_or(|used| now - used >= TOKEN_TOUCH_EVERY_MS);
        if touch {
            with_pool!(self, pool => sqlx::query(
                "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(&token.id).bind(now).execute(pool).await.map(|_| ()))?;
            token.last_used_at = Some(now);
        }
        Ok(Some((token, user, touch)))
    }
}

/// The user a credential may act for: not deleted, not suspended (users aliased `u`).
const LIVE_USER: &str = "u.deleted_at IS NULL AND u.suspended_at IS NULL";

#[derive(sqlx::FromRow)]
struct SessionUserRow {
    session_id: String,
    session_created_at: UnixMillis,
    session_last_seen_at: UnixMillis,
    session_expires_at: UnixMillis,
    session_user_agent: Option<String>,
    session_ip: Option<String>,
    #[sqlx(flatten)]
    user: UserRow,
}

#[derive(sqlx::FromRow)]
struct TokenUserRow {
    token_id: String,
    token_name: String,
    token_prefix: String,
    token_created_at: UnixMillis,
    token_last_used_at: Option<UnixMillis>,
    #[sqlx(flatten)]
    user: UserRow,
}
