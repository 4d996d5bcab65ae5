//! Accounts: identity, role, age statement, verification and the processing pause (P-ACC-1, 5, 7;
//! P-RIGHTS-4; P-RET-4).

use serde::Serialize;

use crate::credits::settle_holds;
use crate::db::{new_id, with_pool, BeginWrite, Db, UnixMillis};
use crate::error::{unique_violation_on, StoreError, StoreResult};

/// What a person may do beyond their own data (P-SEC-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Moderator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }

    fn parse(s: &str) -> StoreResult<Role> {
        match s {
            "user" => Ok(Role::User),
            "moderator" => Ok(Role::Moderator),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::Corrupt(format!("unknown role `{other}`"))),
        }
    }
}

/// An account as stored. `password_hash` is the Argon2id PHC string the server computed.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub username: String,
    pub password_hash: Option<String>,
    pub display_name: String,
    pub email_verified_at: Option<UnixMillis>,
    pub role: Role,
    /// The birth year, when the operator asks for one.
    pub birth_year: Option<i64>,
    /// The minimum age the person confirmed being at least (P-ACC-7), when asked as a statement.
    pub age_confirmed_min: Option<i64>,
    /// Restriction of processing (P-RIGHTS-4): the queue does not claim this user's jobs.
    pub processing_paused: bool,
    /// When the person opted in to marketing email (P-COMM-1); `None` is the default and means
    /// no marketing email at all.
    pub marketing_opt_in_at: Option<UnixMillis>,
    /// The person wants an email when one of their jobs ends (P-COMM-1, transactional).
    pub notify_job_finished: bool,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    /// Set when the account is deleted: it can no longer sign in and is purged later (P-RET-4).
    pub deleted_at: Option<UnixMillis>,
}

impl User {
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// What sign-up records.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub username: String,
    pub password_hash: Option<String>,
    pub display_name: String,
    pub role: Role,
    pub birth_year: Option<i64>,
    pub age_confirmed_min: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    email: String,
    username: String,
    password_hash: Option<String>,
    display_name: String,
    email_verified_at: Option<i64>,
    role: String,
    birth_year: Option<i64>,
    age_confirmed_min: Option<i64>,
    processing_paused: bool,
    marketing_opt_in_at: Option<i64>,
    notify_job_finished: bool,
    created_at: i64,
    updated_at: i64,
    deleted_at: Option<i64>,
}

impl UserRow {
    pub(crate) fn into_user(self) -> StoreResult<User> {
        Ok(User {
            role: Role::parse(&self.role)?,
            id: self.id,
            email: self.email,
            username: self.username,
            password_hash: self.password_hash,
            display_name: self.display_name,
            email_verified_at: self.email_verified_at,
            birth_year: self.birth_year,
            age_confirmed_min: self.age_confirmed_min,
            processing_paused: self.processing_paused,
            marketing_opt_in_at: self.marketing_opt_in_at,
            notify_job_finished: self.notify_job_finished,
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: self.deleted_at,
        })
    }
}

pub(crate) const USER_COLUMNS: &str = "id, email, username, password_hash, display_name, \
    email_verified_at, role, birth_year, age_confirmed_min, processing_paused, marketing_opt_in_at, \
    notify_job_finished, created_at, updated_at, deleted_at";

/// The form both uniqueness checks compare: emails and usernames are case-insensitive.
fn normalise(s: &str) -> String {
    s.trim().to_lowercase()
}

impl Db {
    /// Register an account. Fails with [`StoreError::EmailTaken`] or
    /// [`StoreError::UsernameTaken`] when another account (even a deleted one not yet purged)
    /// holds the same email or username, ignoring case.
    pub async fn create_user(&self, new: &NewUser, now: UnixMillis) -> StoreResult<User> {
        let id = new_id();
        let sql = "INSERT INTO users (id, email, email_norm, username, username_norm, \
            password_hash, display_name, role, birth_year, age_confirmed_min, created_at, updated_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)";
        let inserted = with_pool!(self, pool => sqlx::query(sql)
            .bind(&id)
            .bind(new.email.trim())
            .bind(normalise(&new.email))
            .bind(new.username.trim())
            .bind(normalise(&new.username))
            .bind(&new.password_hash)
            .bind(&new.display_name)
            .bind(new.role.as_str())
            .bind(new.birth_year)
            .bind(new.age_confirmed_min)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()));
        if let Err(err) = inserted {
            return Err(match unique_violation_on(&err) {
                Some(what) if what.contains("email_norm") => StoreError::EmailTaken,
                Some(what) if what.contains("username_norm") => StoreError::UsernameTaken,
                _ => StoreError::Database(err),
            });
        }
        self.user_by_id(&id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("inserted user vanished".into()))
    }

    /// The account with this id, deleted or not.
    pub async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        self.fetch_user(&sql, id).await
    }

    /// The account with this email, compared case-insensitively, deleted or not.
    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_norm = $1");
        self.fetch_user(&sql, &normalise(email)).await
    }

    /// The account with this username, compared case-insensitively, deleted or not.
    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username_norm = $1");
        self.fetch_user(&sql, &normalise(username)).await
    }

    async fn fetch_user(&self, sql: &str, arg: &str) -> StoreResult<Option<User>> {
        let row = with_pool!(self, pool => sqlx::query_as::<_, UserRow>(sql)
            .bind(arg)
            .fetch_optional(pool)
            .await)?;
        row.map(UserRow::into_user).transpose()
    }

    /// Record that the person proved they own the email address (P-ACC-2).
    pub async fn mark_email_verified(&self, user_id: &str, now: UnixMillis) -> StoreResult<bool> {
        self.update_user(
            "UPDATE users SET email_verified_at = $2, updated_at = $2 WHERE id = $1",
            user_id,
            now,
        )
        .await
    }

    /// Replace the password hash (sign-up without one, or a reset).
    pub async fn set_password_hash(
        &self,
        user_id: &str,
        password_hash: &str,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(password_hash).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Switch the account to a new, verified email address (P-ACC-5). Fails with
    /// [`StoreError::EmailTaken`] when another account holds it, ignoring case; `false` when
    /// there is no such account.
    pub async fn set_email(
        &self,
        user_id: &str,
        email: &str,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE users SET email = $2, email_norm = $3, email_verified_at = $4, \
            updated_at = $4 WHERE id = $1";
        let updated = with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(email.trim()).bind(normalise(email)).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()));
        match updated {
            Ok(n) => Ok(n == 1),
            Err(err) => Err(match unique_violation_on(&err) {
                Some(what) if what.contains("email_norm") => StoreError::EmailTaken,
                _ => StoreError::Database(err),
            }),
        }
    }

    /// Change the username (P-RIGHTS-2). Fails with [`StoreError::UsernameTaken`] when another
    /// account (even a deleted one not yet purged) holds it, ignoring case; `false` when there
    /// is no such account.
    pub async fn set_username(
        &self,
        user_id: &str,
        username: &str,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let sql =
            "UPDATE users SET username = $2, username_norm = $3, updated_at = $4 WHERE id = $1";
        let updated = with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(username.trim()).bind(normalise(username)).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()));
        match updated {
            Ok(n) => Ok(n == 1),
            Err(err) => Err(match unique_violation_on(&err) {
                Some(what) if what.contains("username_norm") => StoreError::UsernameTaken,
                _ => StoreError::Database(err),
            }),
        }
    }

    /// Remember the settings of the user's last submitted job (P-IN-6).
    pub async fn set_preferences(
        &self,
        user_id: &str,
        settings: &serde_json::Value,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO user_preferences (user_id, settings_json, updated_at) \
            VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE \
            SET settings_json = excluded.settings_json, updated_at = excluded.updated_at";
        let json = settings.to_string();
        with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(&json).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The settings remembered by [`Db::set_preferences`] and when, if any.
    pub async fn preferences(
        &self,
        user_id: &str,
    ) -> StoreResult<Option<(serde_json::Value, UnixMillis)>> {
        let sql = "SELECT settings_json, updated_at FROM user_preferences WHERE user_id = $1";
        let row = with_pool!(self, pool => sqlx::query_as::<_, (String, i64)>(sql)
            .bind(user_id).fetch_optional(pool).await)?;
        row.map(|(json, at)| {
            serde_json::from_str(&json)
                .map(|v| (v, at))
                .map_err(|e| crate::error::corrupt_json("preferences", e))
        })
        .transpose()
    }

    /// Change the shown name (P-ACC-5).
    pub async fn set_display_name(
        &self,
        user_id: &str,
        display_name: &str,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE users SET display_name = $2, updated_at = $3 WHERE id = $1";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(display_name).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Grant or withdraw a role.
    pub async fn set_role(&self, user_id: &str, role: Role, now: UnixMillis) -> StoreResult<bool> {
        let sql = "UPDATE users SET role = $2, updated_at = $3 WHERE id = $1";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(role.as_str()).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Pause or resume all processing of the user's data (P-RIGHTS-4): while paused, the queue
    /// neither claims nor takes over their jobs.
    pub async fn set_processing_paused(
        &self,
        user_id: &str,
        paused: bool,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE users SET processing_paused = $2, updated_at = $3 WHERE id = $1";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(paused).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Ask for, or stop, the email sent when one of the user's jobs ends.
    pub async fn set_notify_job_finished(
        &self,
        user_id: &str,
        on: bool,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE users SET notify_job_finished = $2, updated_at = $3 WHERE id = $1";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(on).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Delete an account with immediate effect (P-RET-4): it is marked deleted, every session and
    /// API token ends, and its queued jobs are cancelled. The row and its data stay until
    /// [`Db::purge_user`] so the purge can find the media to remove.
    pub async fn mark_user_deleted(&self, user_id: &str, now: UnixMillis) -> StoreResult<bool> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "UPDATE users SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(user_id).bind(now).execute(&mut *tx).await?.rows_affected();
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(user_id).bind(now).execute(&mut *tx).await?;
            let ending: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM jobs WHERE owner_id = $1 AND status IN ('queued', 'running')",
            )
            .bind(user_id).fetch_all(&mut *tx).await?;
            for job_id in &ending {
                settle_holds!(tx, job_id, None, false, now).await?;
            }
            sqlx::query(
                "UPDATE jobs SET status = 'cancelled', lease_owner = NULL, lease_token = NULL, \
                 lease_expires_at = NULL, updated_at = $2 WHERE owner_id = $1 AND status IN ('queued', 'running')",
            )
            .bind(user_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<bool, StoreError>(n == 1)
        }.await)
    }

    /// Remove the account row and, by cascade, everything that references it, including the
    /// user's data key: whatever of their media is left anywhere (backups included) can no longer
    /// be decrypted (crypto-shredding, P-SEC-2). Callers still delete the user's objects from
    /// media storage first (list them with the upload and job methods).
    pub async fn purge_user(&self, user_id: &str) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Accounts deleted before `cutoff`, due for [`Db::purge_user`].
    pub async fn users_deleted_before(&self, cutoff: UnixMillis) -> StoreResult<Vec<String>> {
        let sql =
            "SELECT id FROM users WHERE deleted_at IS NOT NULL AND deleted_at < $1 ORDER BY id";
        let ids = with_pool!(self, pool => sqlx::query_scalar::<_, String>(sql)
            .bind(cutoff).fetch_all(pool).await)?;
        Ok(ids)
    }

    async fn update_user(&self, sql: &str, user_id: &str, now: UnixMillis) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}
