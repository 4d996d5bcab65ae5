//! Key handling for encryption at rest (P-SEC-2): operator keys, per-user data keys, their
//! wrapping, rotation and destruction.
//!
//! Every user's media is sealed under that user's own random 256-bit *data key*. The database
//! keeps data keys only *wrapped*: encrypted with AES-256-GCM under an *operator key* that lives
//! in a file outside the database (see `docs/configuration.md`). Destroying a user's data key row
//! makes every object sealed under it unreadable for good, including copies in media backups
//! (crypto-shredding). Rotating the operator key re-wraps the data keys; the media itself is
//! never re-encrypted.
//!
//! Key material never appears in `Debug` output, logs or errors: only key *ids* do, and an
//! operator key's id is a one-way fingerprint of it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use reelsmith_core::{Code, ErrorCode};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::db::{with_pool, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};

/// Bytes in every key we use (AES-256).
pub const KEY_LEN: usize = 32;
/// Bytes of a data key's id, as written into every sealed object's header.
pub const DATA_KEY_ID_LEN: usize = 16;
const WRAP_NONCE_LEN: usize = 12;
/// Domain separation: the wrapping AAD and the operator key fingerprint cannot be confused with
/// any other use of the same bytes.
const WRAP_CONTEXT: &[u8] = b"reelsmith data key v1\0";
const FINGERPRINT_CONTEXT: &[u8] = b"reelsmith operator key id v1\0";

/// Why a key or sealed-object operation failed. No variant carries key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    /// The stored object is not in the sealed format, or its header or size is damaged.
    #[error("object `{key}` is not a readable sealed object: {reason}")]
    Format { key: String, reason: &'static str },
    /// A segment failed authentication: the object was modified, truncated, reordered, or
    /// copied under another key.
    #[error("object `{key}` failed authentication at segment {segment}")]
    Authentication { key: String, segment: u64 },
    /// The object was sealed under a data key its owner no longer has (it was destroyed), or
    /// under another user's key.
    #[error("object `{key}` was sealed under a data key that is not this owner's (destroyed or foreign)")]
    KeyUnavailable { key: String },
    /// A data key was asked for a user who does not exist.
    #[error("no user `{0}` to hold a data key")]
    UnknownOwner(String),
    /// A data key is wrapped under an operator key that is not configured.
    #[error("the data key of user `{user_id}` is wrapped under operator key {operator_key_id}, which is not configured (set encryption.previous_key_files)")]
    OperatorKeyUnknown {
        user_id: String,
        operator_key_id: String,
    },
    /// A wrapped data key did not authenticate under the operator key its row names.
    #[error("the data key of user `{user_id}` cannot be unwrapped: its row is damaged")]
    UnwrapFailed { user_id: String },
    /// An operator key file cannot be read, created or parsed.
    #[error("operator key file {}: {reason}", .path.display())]
    KeyFile { path: PathBuf, reason: String },
    /// The operator key file is missing although data keys are wrapped under some operator key:
    /// generating a fresh one would make all media unreadable, so we refuse.
    #[error("operator key file {} is missing, but {wrapped} data keys are wrapped under operator key(s) {ids}: restore the file from its backup", .path.display())]
    KeyFileMissing {
        path: PathBuf,
        wrapped: u64,
        ids: String,
    },
    /// The object is larger than the format can number segments for (256 TiB).
    #[error("object `{0}` is too large to seal")]
    TooLarge(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ErrorCode for CryptError {
    fn code(&self) -> Code {
        match self {
            CryptError::Format { .. } => Code::CryptFormat,
            CryptError::Authentication { .. } => Code::CryptAuthenticationFailed,
            CryptError::KeyUnavailable { .. } => Code::CryptKeyUnavailable,
            CryptError::UnknownOwner(_) => Code::CryptUnknownOwner,
            CryptError::OperatorKeyUnknown { .. } => Code::CryptOperatorKeyUnknown,
            CryptError::UnwrapFailed { .. } => Code::CryptUnwrapFailed,
            CryptError::KeyFile { .. } => Code::CryptKeyFile,
            CryptError::KeyFileMissing { .. } => Code::CryptKeyFileMissing,
            CryptError::TooLarge(_) => Code::CryptTooLarge,
            CryptError::Store(err) => err.code(),
        }
    }

    /// Key trouble is the operator's (or an attacker's), never a request's.
    fn is_client_error(&self) -> bool {
        false
    }
}

/// The operator's key-encryption key. Its id is a fingerprint, so the same key always has the
/// same id and no operator has to invent names.
#[derive(Clone)]
pub struct OperatorKey {
    id: String,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OperatorKey({})", self.id)
    }
}

impl OperatorKey {
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> OperatorKey {
        let mut fingerprint = Sha256::new();
        fingerprint.update(FINGERPRINT_CONTEXT);
        fingerprint.update(bytes);
        // 8 bytes: plenty to tell a handful of keys apart, and a one-way function of the key.
        let id = hex::encode(&fingerprint.finalize()[..8]);
        OperatorKey {
            id,
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(bytes)),
        }
    }

    /// A fresh random key (and the hex text a key file holds), from the OS's CSPRNG.
    pub fn generate() -> (OperatorKey, Zeroizing<String>) {
        let bytes = Zeroizing::new(<[u8; KEY_LEN]>::from(Aes256Gcm::generate_key(OsRng)));
        let text = Zeroizing::new(format!("{}\n", hex::encode(*bytes)));
        (OperatorKey::from_bytes(&bytes), text)
    }

    /// The fingerprint stored next to every data key wrapped under this key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Read a key file: 64 hex digits, surrounding whitespace ignored.
    pub fn read_file(path: &Path) -> Result<OperatorKey, CryptError> {
        let fail = |reason: String| CryptError::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?);
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        // The message never quotes the file: it may be a key with a typo.
        hex::decode_to_slice(text.trim(), &mut bytes[..])
            .map_err(|_| fail(format!("expected {} hex digits", KEY_LEN * 2)))?;
        warn_if_readable_by_others(path);
        Ok(OperatorKey::from_bytes(&bytes))
    }

    /// Generate a key into a new file readable by its owner only (0600). Refuses to replace an
    /// existing file: overwriting a key in use would lose every media object.
    pub fn create_file(path: &Path) -> Result<OperatorKey, CryptError> {
        let fail = |reason: String| CryptError::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        let (key, text) = OperatorKey::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| fail(e.to_string()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| fail(e.to_string()))?;
        Ok(key)
    }

    #[expect(
        clippy::expect_used,
        reason = "AES-GCM fails only on messages over 64 GiB; this one is 32 bytes"
    )]
    fn wrap(&self, user_id: &str, key_id: &str, data_key: &[u8; KEY_LEN]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(OsRng);
        let aad = wrap_aad(user_id, key_id);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: data_key,
                    aad: &aad,
                },
            )
            .expect("AES-GCM seals a 32-byte message");
        let mut wrapped = nonce.to_vec();
        wrapped.extend_from_slice(&sealed);
        wrapped
    }

    fn unwrap(
        &self,
        user_id: &str,
        key_id: &str,
        wrapped: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptError> {
        let failed = || CryptError::UnwrapFailed {
            user_id: user_id.to_owned(),
        };
        if wrapped.len() != WRAP_NONCE_LEN + KEY_LEN + 16 {
            return Err(failed());
        }
        let (nonce, sealed) = wrapped.split_at(WRAP_NONCE_LEN);
        let aad = wrap_aad(user_id, key_id);
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: &aad,
                    },
                )
                .map_err(|_| failed())?,
        );
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&plain);
        Ok(key)
    }
}

/// Binds a wrapped key to its user and key id, so a row's wrapped key cannot be moved to another
/// user (who would then read the first user's media with it).
fn wrap_aad(user_id: &str, key_id: &str) -> Vec<u8> {
    let mut aad = WRAP_CONTEXT.to_vec();
    aad.extend_from_slice(user_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the operator key file is readable by other users; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// The operator keys a process knows: the current one wraps new data keys; previous ones are
/// still accepted for unwrapping until `reelsmith keys rotate` has re-wrapped everything.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: OperatorKey,
    previous: Vec<OperatorKey>,
}

impl Keyring {
    pub fn new(current: OperatorKey) -> Keyring {
        Keyring {
            current,
            previous: Vec::new(),
        }
    }

    pub fn with_previous(mut self, previous: OperatorKey) -> Keyring {
        if previous.id != self.current.id && self.find(&previous.id).is_none() {
            self.previous.push(previous);
        }
        self
    }

    pub fn current(&self) -> &OperatorKey {
        &self.current
    }

    fn find(&self, id: &str) -> Option<&OperatorKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }

    /// Load the configured key files. When the current key file does not exist and the database
    /// holds no wrapped data keys yet (a fresh installation), a new key is generated into it
    /// (mode 0600) and `created` is true; when data keys exist, a missing file is an error
    /// rather than a silent new key that could read none of them.
    pub async fn load_or_create(
        db: &Db,
        key_file: &Path,
        previous_files: &[PathBuf],
    ) -> Result<(Keyring, bool), CryptError> {
        let (current, created) = if key_file.exists() {
            (OperatorKey::read_file(key_file)?, false)
        } else {
            let ids = db.operator_key_ids_in_use().await?;
            if !ids.is_empty() {
                return Err(CryptError::KeyFileMissing {
                    path: key_file.to_path_buf(),
                    wrapped: ids.iter().map(|(_, n)| *n).sum(),
                    ids: ids
                        .iter()
                        .map(|(id, _)| id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            match OperatorKey::create_file(key_file) {
                Ok(key) => (key, true),
                // Another process on this machine (serve and worker starting together) won.
                Err(_) if key_file.exists() => (OperatorKey::read_file(key_file)?, false),
                Err(err) => return Err(err),
            }
        };
        let mut keyring = Keyring::new(current);
        for file in previous_files {
            keyring = keyring.with_previous(OperatorKey::read_file(file)?);
        }
        Ok((keyring, created))
    }
}

/// One user's unwrapped data key, ready to seal and open their objects.
pub struct DataKey {
    id: [u8; DATA_KEY_ID_LEN],
    pub(crate) cipher: Aes256Gcm,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({})", hex::encode(self.id))
    }
}

impl DataKey {
    pub fn id(&self) -> &[u8; DATA_KEY_ID_LEN] {
        &self.id
    }

    fn from_parts(key_id: &str, key: &[u8; KEY_LEN]) -> Result<DataKey, StoreError> {
        let mut id = [0u8; DATA_KEY_ID_LEN];
        hex::decode_to_slice(key_id, &mut id)
            .map_err(|_| StoreError::Corrupt("data key id is not 32 hex digits".into()))?;
        Ok(DataKey {
            id,
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        })
    }
}

/// What `reelsmith keys rotate` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RotationReport {
    /// Data keys re-wrapped under the current operator key.
    pub rewrapped: u64,
    /// Data keys that were already under it.
    pub already_current: u64,
}

#[derive(sqlx::FromRow)]
struct DataKeyRow {
    user_id: String,
    key_id: String,
    wrapped_key: Vec<u8>,
    operator_key_id: String,
}

/// Data keys for a keyring: looks them up in the database, creating them on first use.
#[derive(Debug, Clone)]
pub struct KeyStore {
    db: Db,
    keyring: Arc<Keyring>,
}

impl KeyStore {
    pub fn new(db: Db, keyring: Keyring) -> KeyStore {
        KeyStore {
            db,
            keyring: Arc::new(keyring),
        }
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The user's data key, created (and wrapped under the current operator key) the first time.
    /// Two processes creating it at once agree on one: the insert of the loser is ignored and
    /// both read back the winner's row.
    pub async fn data_key(&self, user_id: &str, now: UnixMillis) -> Result<DataKey, CryptError> {
        if let Some(row) = self.db.data_key_row(user_id).await? {
            return self.unwrap_row(&row);
        }
        let key_id = random_key_id();
        let key = Zeroizing::new(<[u8; KEY_LEN]>::from(Aes256Gcm::generate_key(OsRng)));
        let current = self.keyring.current();
        let wrapped = current.wrap(user_id, &key_id, &key);
        let sql = "INSERT INTO data_keys (user_id, key_id, wrapped_key, operator_key_id, created_at, wrapped_at) \
                   VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (user_id) DO NOTHING";
        let inserted = with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(user_id).bind(&key_id).bind(&wrapped).bind(current.id()).bind(now)
            .execute(pool).await.map(|_| ()));
        if let Err(err) = inserted {
            let foreign = err
                .as_database_error()
                .is_some_and(|e| e.is_foreign_key_violation());
            return Err(if foreign {
                CryptError::UnknownOwner(user_id.to_owned())
            } else {
                StoreError::from(err).into()
            });
        }
        let row = self
            .db
            .data_key_row(user_id)
            .await?
            .ok_or_else(|| CryptError::UnknownOwner(user_id.to_owned()))?;
        self.unwrap_row(&row)
    }

    fn unwrap_row(&self, row: &DataKeyRow) -> Result<DataKey, CryptError> {
        let operator = self.keyring.find(&row.operator_key_id).ok_or_else(|| {
            CryptError::OperatorKeyUnknown {
                user_id: row.user_id.clone(),
                operator_key_id: row.operator_key_id.clone(),
            }
        })?;
        let key = operator.unwrap(&row.user_id, &row.key_id, &row.wrapped_key)?;
        Ok(DataKey::from_parts(&row.key_id, &key)?)
    }

    /// Crypto-shredding: destroy the user's data key, so nothing sealed under it can ever be read
    /// again, wherever copies of it are. Returns whether there was a key. The account purge calls
    /// this; deleting the user row has the same effect through the foreign key.
    pub async fn destroy_data_key(&self, user_id: &str) -> Result<bool, CryptError> {
        let sql = "DELETE FROM data_keys WHERE user_id = $1";
        let n = with_pool!(&self.db, pool => sqlx::query(sql).bind(user_id)
            .execute(pool).await.map(|r| r.rows_affected()))
        .map_err(StoreError::from)?;
        Ok(n > 0)
    }

    /// Re-wrap every data key under the current operator key, reading each with whichever
    /// configured key wraps it. Checks first that every key in use is configured, so a missing
    /// previous key fails before anything changes. Safe to run again, and alongside running
    /// servers: each row is updated only if it is still wrapped the way it was read.
    pub async fn rotate(&self, now: UnixMillis) -> Result<RotationReport, CryptError> {
        let current = self.keyring.current();
        for (id, _) in self.db.operator_key_ids_in_use().await? {
            if self.keyring.find(&id).is_none() {
                return Err(CryptError::OperatorKeyUnknown {
                    user_id: "(several)".into(),
                    operator_key_id: id,
                });
            }
        }
        let sql =
            "SELECT user_id, key_id, wrapped_key, operator_key_id FROM data_keys ORDER BY user_id";
        let rows = with_pool!(&self.db, pool => sqlx::query_as::<_, DataKeyRow>(sql)
            .fetch_all(pool).await)
        .map_err(StoreError::from)?;
        let mut report = RotationReport::default();
        for row in rows {
            if row.operator_key_id == current.id() {
                report.already_current += 1;
                continue;
            }
            let operator = self.keyring.find(&row.operator_key_id).ok_or_else(|| {
                CryptError::OperatorKeyUnknown {
                    user_id: row.user_id.clone(),
                    operator_key_id: row.operator_key_id.clone(),
                }
            })?;
            let key = operator.unwrap(&row.user_id, &row.key_id, &row.wrapped_key)?;
            let wrapped = current.wrap(&row.user_id, &row.key_id, &key);
            let sql =
                "UPDATE data_keys SET wrapped_key = $1, operator_key_id = $2, wrapped_at = $3 \
                       WHERE user_id = $4 AND key_id = $5 AND operator_key_id = $6";
            let n = with_pool!(&self.db, pool => sqlx::query(sql)
                .bind(&wrapped).bind(current.id()).bind(now)
                .bind(&row.user_id).bind(&row.key_id).bind(&row.operator_key_id)
                .execute(pool).await.map(|r| r.rows_affected()))
            .map_err(StoreError::from)?;
            report.rewrapped += n;
        }
        Ok(report)
    }
}

fn random_key_id() -> String {
    let mut id = [0u8; DATA_KEY_ID_LEN];
    aes_gcm::aead::rand_core::RngCore::fill_bytes(&mut OsRng, &mut id);
    hex::encode(id)
}

impl Db {
    async fn data_key_row(&self, user_id: &str) -> StoreResult<Option<DataKeyRow>> {
        let sql = "SELECT user_id, key_id, wrapped_key, operator_key_id FROM data_keys WHERE user_id = $1";
        Ok(
            with_pool!(self, pool => sqlx::query_as::<_, DataKeyRow>(sql)
            .bind(user_id).fetch_optional(pool).await)?,
        )
    }

    /// Which operator keys wrap data keys, and how many each: what rotation has left to do.
    pub async fn operator_key_ids_in_use(&self) -> StoreResult<Vec<(String, u64)>> {
        let sql = "SELECT operator_key_id, COUNT(*) FROM data_keys GROUP BY operator_key_id ORDER BY operator_key_id";
        let rows = with_pool!(self, pool => sqlx::query_as::<_, (String, i64)>(sql)
            .fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(id, n)| (id, n as u64)).collect())
    }

    /// Whether the user has a data key (for tests and the account purge's checks).
    pub async fn has_data_key(&self, user_id: &str) -> StoreResult<bool> {
        Ok(self.data_key_row(user_id).await?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_key_ids_are_stable_fingerprints() {
        let a = OperatorKey::from_bytes(&[7u8; KEY_LEN]);
        let b = OperatorKey::from_bytes(&[7u8; KEY_LEN]);
        let c = OperatorKey::from_bytes(&[8u8; KEY_LEN]);
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
        assert_eq!(a.id().len(), 16);
    }

    #[test]
    fn wrapped_keys_are_bound_to_user_and_key_id() {
        let operator = OperatorKey::from_bytes(&[1u8; KEY_LEN]);
        let wrapped = operator.wrap("u1", "k1", &[9u8; KEY_LEN]);
        assert_eq!(
            *operator.unwrap("u1", "k1", &wrapped).unwrap(),
            [9u8; KEY_LEN]
        );
        for (user, key) in [("u2", "k1"), ("u1", "k2")] {
            let err = operator.unwrap(user, key, &wrapped).unwrap_err();
            assert_eq!(err.code(), "crypt.unwrap_failed");
        }
        let other = OperatorKey::from_bytes(&[2u8; KEY_LEN]);
        assert!(other.unwrap("u1", "k1", &wrapped).is_err());
    }

    /// P-SEC-2: no key material in Debug output or error messages.
    #[test]
    fn p_sec_2_debug_and_errors_never_show_key_material() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("operator.key");
        let key = OperatorKey::create_file(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let secret = text.trim();
        assert_eq!(secret.len(), 64);
        let keyring = Keyring::new(key.clone());
        let data = DataKey::from_parts(&"ab".repeat(16), &[5u8; KEY_LEN]).unwrap();
        for shown in [
            format!("{key:?}"),
            format!("{keyring:?}"),
            format!("{data:?}"),
        ] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(!shown.contains(&hex::encode([5u8; KEY_LEN])), "{shown}");
        }
        // A damaged key file: the error does not quote its contents.
        let bad = dir.path().join("bad.key");
        let almost = format!("{}zz", &secret[..62]);
        std::fs::write(&bad, &almost).unwrap();
        let err = OperatorKey::read_file(&bad).unwrap_err();
        assert_eq!(err.code(), "crypt.key_file");
        assert!(!err.to_string().contains(&almost[..62]));
        assert!(!format!("{err:?}").contains(&almost[..62]));
        // Refuses to overwrite a key.
        assert!(OperatorKey::create_file(&path).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(OperatorKey::read_file(&path).unwrap().id(), key.id());
    }
}
