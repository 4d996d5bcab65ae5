//! One-time email codes for address verification, password reset and email address changes
//! (P-ACC-2, P-ACC-3, P-ACC-5): short lived, single use, at most [`MAX_CODE_ATTEMPTS`] guesses.

use crate::db::{new_id, with_pool, BeginWrite, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};
use crate::secret::digests_equal;

/// Guesses allowed against one code before it is dead.
pub const MAX_CODE_ATTEMPTS: i64 = 5;

/// What a code proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    Verify,
    Reset,
    /// Owning a new address; the code row keeps the address until it is verified.
    ChangeEmail,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::Verify => "verify",
            CodePurpose::Reset => "reset",
            CodePurpose::ChangeEmail => "change_email",
        }
    }
}

/// The answer to a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right code, now used up.
    Valid,
    /// Wrong code; this many guesses remain.
    Wrong { attempts_left: i64 },
    /// The latest code has expired.
    Expired,
    /// The latest code has had its [`MAX_CODE_ATTEMPTS`] guesses.
    TooManyAttempts,
    /// No unused code exists for this user and purpose.
    NoCode,
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    id: String,
    code_hash: String,
    expires_at: i64,
    new_email: Option<String>,
}

impl Db {
    /// Store a new code's hash; any earlier unused code of the same purpose stops working, so
    /// only the latest email's code is accepted.
    pub async fn create_email_code(
        &self,
        user_id: &str,
        purpose: CodePurpose,
        code_hash: &str,
        expires_at: UnixMillis,
        now: UnixMillis,
    ) -> StoreResult<()> {
        self.insert_code(user_id, purpose, code_hash, None, expires_at, now)
            .await
    }

    /// Store the code sent to `new_email` for an address change ([`CodePurpose::ChangeEmail`]);
    /// the address is kept with the code and handed back by [`Db::check_email_change_code`].
    /// Nothing about the account changes until then.
    pub async fn create_email_change_code(
        &self,
        user_id: &str,
        new_email: &str,
        code_hash: &str,
        expires_at: UnixMillis,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let purpose = CodePurpose::ChangeEmail;
        self.insert_code(
            user_id,
            purpose,
            code_hash,
            Some(new_email),
            expires_at,
            now,
        )
        .await
    }

    async fn insert_code(
        &self,
        user_id: &str,
        purpose: CodePurpose,
        code_hash: &str,
        new_email: Option<&str>,
        expires_at: UnixMillis,
        now: UnixMillis,
    ) -> StoreResult<()> {
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE email_codes SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
            )
            .bind(user_id).bind(purpose.as_str()).bind(now)
            .execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO email_codes (id, user_id, purpose, code_hash, created_at, expires_at, new_email) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(new_id()).bind(user_id).bind(purpose.as_str()).bind(code_hash).bind(now).bind(expires_at)
            .bind(new_email)
            .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        }.await)
    }

    /// Check a guess against the user's latest unused code. Every guess is counted before it is
    /// compared, atomically, so concurrent guesses cannot exceed the limit, and a right guess
    /// marks the code used, so it works once.
    pub async fn check_email_code(
        &self,
        user_id: &str,
        purpose: CodePurpose,
        code_hash: &str,
        now: UnixMillis,
    ) -> StoreResult<CodeCheck> {
        Ok(self.check_code(user_id, purpose, code_hash, now).await?.0)
    }

    /// Check a guess at an address-change code like [`Db::check_email_code`]; a right guess
    /// also gives the new address the code was sent to.
    pub async fn check_email_change_code(
        &self,
        user_id: &str,
        code_hash: &str,
        now: UnixMillis,
    ) -> StoreResult<(CodeCheck, Option<String>)> {
        self.check_code(user_id, CodePurpose::ChangeEmail, code_hash, now)
            .await
    }

    async fn check_code(
        &self,
        user_id: &str,
        purpose: CodePurpose,
        code_hash: &str,
        now: UnixMillis,
    ) -> StoreResult<(CodeCheck, Option<String>)> {
        let latest = "SELECT id, code_hash, expires_at, new_email FROM email_codes \
            WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1";
        let row = with_pool!(self, pool => sqlx::query_as::<_, CodeRow>(latest)
            .bind(user_id).bind(purpose.as_str()).fetch_optional(pool).await)?;
        let Some(row) = row else {
            return Ok((CodeCheck::NoCode, None));
        };
        if row.expires_at <= now {
            return Ok((CodeCheck::Expired, None));
        }
        let count = "UPDATE email_codes SET attempts = attempts + 1 \
            WHERE id = $1 AND used_at IS NULL AND attempts < $2 RETURNING attempts";
        let attempts = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(count)
            .bind(&row.id).bind(MAX_CODE_ATTEMPTS).fetch_optional(pool).await)?;
        let Some(attempts) = attempts else {
            return Ok((CodeCheck::TooManyAttempts, None));
        };
        if !digests_equal(&row.code_hash, code_hash) {
            let wrong = CodeCheck::Wrong {
                attempts_left: MAX_CODE_ATTEMPTS - attempts,
            };
            return Ok((wrong, None));
        }
        let use_up = "UPDATE email_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL";
        let n = with_pool!(self, pool => sqlx::query(use_up)
            .bind(&row.id).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        // A concurrent right guess may have used it first: only one of them wins.
        Ok(if n == 1 {
            (CodeCheck::Valid, row.new_email)
        } else {
            (CodeCheck::NoCode, None)
        })
    }
}
