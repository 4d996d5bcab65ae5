//! The deployment fingerprint: every `serve` and `worker` checks at start that its database, its
//! media store and its operator key belong together, and refuses to start otherwise. A worker
//! pointed at another database would run no job of the servers' (or another deployment's jobs
//! against this bucket); one with another media store would store outputs the servers cannot
//! find; one without the servers' key file would generate a new key and seal data under it that
//! no server can open. Each is caught here, before anything is written.
//!
//! The first process to start names the deployment in the database (`deployment` row, with the
//! operator key id) and writes a marker object naming it into the media store. Afterwards the
//! three must agree.

use anyhow::{bail, Context};
use reelsmith_config::{Config, StorageBackend};
use reelsmith_store::{
    new_id, now_ms, Db, Deployment, MediaStore, ObjectError, OperatorKey, SealedMedia,
    DEPLOYMENT_MARKER_KEY,
};
use serde::{Deserialize, Serialize};

use crate::platform::{media_store, sealed_media};

/// What the media store's marker object holds: nothing secret.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    deployment: String,
    written_at: i64,
}

/// The sealed media store, once the database, the store and the key file are known to be the
/// deployment's; names the deployment on a first start.
pub async fn checked_sealed_media(config: &Config, db: &Db) -> anyhow::Result<SealedMedia> {
    let raw = media_store(config)?;
    let record = check(config, db, &raw).await?;
    // Only now may a missing key file be generated: a deployment that has a key refused above.
    let media = sealed_media(config, db).await?;
    let key_id = OperatorKey::read_file(&config.encryption.key_file)
        .context("cannot read the operator key")?
        .id()
        .to_owned();
    claim(config, db, &raw, record, &key_id).await?;
    Ok(media)
}

fn store_name(config: &Config) -> String {
    match config.storage.backend {
        StorageBackend::Local => format!("folder {}", config.storage.local_path.display()),
        StorageBackend::S3 => {
            let s3 = &config.storage.s3;
            format!(
                "bucket `{}` at {}",
                s3.bucket.as_deref().unwrap_or_default(),
                s3.endpoint.as_deref().unwrap_or("the default S3 endpoint")
            )
        }
    }
}

async fn read_marker(config: &Config, store: &MediaStore) -> anyhow::Result<Option<Marker>> {
    match store.get_bytes(DEPLOYMENT_MARKER_KEY).await {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
            format!(
                "the deployment marker `{DEPLOYMENT_MARKER_KEY}` in {} is damaged",
                store_name(config)
            )
        }),
        Err(ObjectError::NotFound(_)) => Ok(None),
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot read the deployment marker from {}",
                store_name(config)
            )
        }),
    }
}

/// Compares the database's deployment with the media store's marker and the key files, before
/// anything is written. Returns the deployment, if one was named already.
async fn check(config: &Config, db: &Db, store: &MediaStore) -> anyhow::Result<Option<Deployment>> {
    let record = db
        .deployment()
        .await
        .context("cannot read the deployment's identity from the database")?;
    let marker = read_marker(config, store).await?;
    compare(config, record, marker)
}

/// `config check`'s view of the fingerprint: the comparison `serve` and `worker` make at start,
/// read only (nothing is named, marked or generated). `Err` is the line an operator reads.
pub async fn verify(config: &Config, db: Option<&Db>) -> Result<String, String> {
    // A database not created or migrated yet belongs to no deployment.
    let record = match db {
        Some(db) if db.applied_migrations().await.unwrap_or(0) > 0 => db
            .deployment()
            .await
            .map_err(|e| format!("cannot read the deployment's identity from the database: {e}"))?,
        _ => None,
    };
    // Opening a local store creates its folder; one that is not there holds no marker.
    let absent =
        config.storage.backend == StorageBackend::Local && !config.storage.local_path.is_dir();
    let marker = if absent {
        Ok(None)
    } else {
        match media_store(config) {
            Ok(store) => read_marker(config, &store).await,
            Err(e) => Err(e),
        }
    };
    let verdict = match marker {
        Ok(marker) => compare(config, record, marker),
        Err(e) => Err(e),
    };
    match verdict {
        Ok(Some(record)) => Ok(format!(
            "deployment {}: the database, the media store and the operator key belong to it",
            record.id
        )),
        Ok(None) => Ok("not named yet: the first `serve` or `worker` names it".to_owned()),
        Err(e) => Err(format!("{e:#}")
            .trim_start_matches("refusing to start: ")
            .to_owned()),
    }
}

/// The database's deployment against the media store's marker and the key files.
fn compare(
    config: &Config,
    record: Option<Deployment>,
    marker: Option<Marker>,
) -> anyhow::Result<Option<Deployment>> {
    let database = config.database.url.redacted();
    let store = store_name(config);
    match (&record, &marker) {
        (None, Some(marker)) => bail!(
            "refusing to start: the media store ({store}) belongs to deployment {}, but the \
             database {database} belongs to no deployment: this is another database than the \
             servers' (check database.url)",
            marker.deployment
        ),
        (Some(record), Some(marker)) if record.id != marker.deployment => bail!(
            "refusing to start: the database {database} belongs to deployment {}, but the media \
             store ({store}) to deployment {}: one of them is not the servers' (check \
             database.url and the [storage] section)",
            record.id,
            marker.deployment
        ),
        (Some(record), None) if record.store_marked() => bail!(
            "refusing to start: the media store ({store}) holds no marker of deployment {}, \
             which the database {database} belongs to: this is another media store than the \
             servers' (check the [storage] section), or its contents were lost",
            record.id
        ),
        _ => {}
    }
    if let Some(record) = &record {
        check_key(config, record)?;
    }
    Ok(record)
}

/// The key file must hold the deployment's operator key, or one rotated from it (the
/// deployment's key among `previous_key_files`).
fn check_key(config: &Config, record: &Deployment) -> anyhow::Result<()> {
    let encryption = &config.encryption;
    let file = &encryption.key_file;
    if !file.exists() {
        bail!(
            "refusing to start: the operator key file {} is missing, but deployment {} seals its \
             media under operator key {}: copy the servers' key file there (a new key could read \
             none of it)",
            file.display(),
            record.id,
            record.operator_key_id
        );
    }
    let current = OperatorKey::read_file(file)
        .with_context(|| format!("cannot read the operator key file {}", file.display()))?;
    if current.id() == record.operator_key_id {
        return Ok(());
    }
    for previous in &encryption.previous_key_files {
        let key = OperatorKey::read_file(previous).with_context(|| {
            format!(
                "cannot read the previous operator key file {}",
                previous.display()
            )
        })?;
        if key.id() == record.operator_key_id {
            return Ok(());
        }
    }
    bail!(
        "refusing to start: the operator key in {} (key {}) is not deployment {}'s (key {}), nor \
         rotated from it: use the servers' key file",
        file.display(),
        current.id(),
        record.id,
        record.operator_key_id
    )
}

/// Names the deployment on a first start, writes the store's marker if it is not there yet,
/// and records a key rotation (the current key replaces one found among the previous keys).
async fn claim(
    config: &Config,
    db: &Db,
    store: &MediaStore,
    record: Option<Deployment>,
    key_id: &str,
) -> anyhow::Result<()> {
    let record = match record {
        Some(record) => {
            if record.operator_key_id != key_id {
                db.set_deployment_key(key_id).await?;
                tracing::info!(
                    from = %record.operator_key_id,
                    to = key_id,
                    "the deployment's operator key was rotated"
                );
            }
            record
        }
        None => {
            let record = db
                .claim_deployment(&new_id(), key_id, now_ms())
                .await
                .context("cannot record the deployment's identity")?;
            if record.operator_key_id != key_id {
                bail!(
                    "refusing to start: another process named deployment {} with operator key {} \
                     while this one has key {key_id}: they do not share the key file",
                    record.id,
                    record.operator_key_id
                );
            }
            tracing::info!(deployment = %record.id, "named this deployment");
            record
        }
    };
    if record.store_marked() {
        return Ok(());
    }
    match read_marker(config, store).await? {
        Some(marker) if marker.deployment != record.id => bail!(
            "refusing to start: the media store ({}) was claimed by deployment {} meanwhile",
            store_name(config),
            marker.deployment
        ),
        Some(_) => {}
        None => {
            let marker = Marker {
                deployment: record.id.clone(),
                written_at: now_ms(),
            };
            store
                .put_bytes(DEPLOYMENT_MARKER_KEY, serde_json::to_vec(&marker)?.into())
                .await
                .with_context(|| {
                    format!(
                        "cannot write the deployment marker to {}",
                        store_name(config)
                    )
                })?;
        }
    }
    db.mark_deployment_store().await?;
    Ok(())
}
