//! `config check`'s reach past the file: it tries each dependency the configuration names (the
//! database with its credentials, the media bucket, the operator key file against the keys the
//! database holds), so it can gate a deployment. Each check is bounded in time.

use std::time::Duration;

use reelsmith_config::{Config, StorageBackend};
use reelsmith_store::{Db, OperatorKey};

use crate::platform::{media_store, open_db};

/// The longest one check waits: a dependency that does not answer fails the check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// One dependency's verdict: `Ok` says what was found, `Err` why it cannot be used.
pub struct Check {
    pub name: &'static str,
    pub result: Result<String, String>,
}

/// Tries the database, the media store and the operator key, in that order.
pub async fn dependency_checks(config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    let db = database(config).await;
    checks.push(Check {
        name: "database",
        result: db
            .as_ref()
            .map(|(_, said)| said.clone())
            .map_err(Clone::clone),
    });
    checks.push(Check {
        name: "storage",
        result: bounded(storage(config)).await,
    });
    // A database that is not there yet holds no keys; one that failed cannot be asked.
    let (db, fresh) = match db {
        Ok((db, _)) => (db.clone(), db.is_none()),
        Err(_) => (None, false),
    };
    checks.push(Check {
        name: "operator key",
        result: bounded(operator_key(config, db.as_ref(), fresh)).await,
    });
    // The fingerprint `serve` and `worker` check at start, once both can be read.
    if checks
        .iter()
        .all(|c| c.name == "operator key" || c.result.is_ok())
    {
        checks.push(Check {
            name: "deployment",
            result: bounded(crate::deployment::verify(config, db.as_ref())).await,
        });
    }
    if let Some(db) = db {
        db.close().await;
    }
    if let Some(folder) = &config.stock.library {
        checks.push(Check {
            name: "media library",
            result: media_library(folder),
        });
    }
    if config.sharing.image_check.model.is_some() {
        checks.push(Check {
            name: "image classifier",
            result: image_classifier(config)
                .map(|()| "the model loads and scores a test image".to_owned())
                .map_err(|e| format!("{e:#}")),
        });
    }
    checks
}

/// Loads the configured image classifier (P-SAFE-1) once for this process: a missing,
/// unreadable or mismatched model stops `serve` and `worker` at start (D-safety-1).
pub fn image_classifier(config: &Config) -> anyhow::Result<()> {
    reelsmith_safety::classifier::ImageClassifier::shared(&config.sharing.image_check)
        .map_err(|e| anyhow::anyhow!("sharing.image_check.model: {e} ({})", e.code()))?;
    Ok(())
}

async fn bounded(
    check: impl std::future::Future<Output = Result<String, String>>,
) -> Result<String, String> {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())))
}

async fn database(config: &Config) -> Result<(Option<Db>, String), String> {
    let url = config.database.url.redacted();
    let sqlite_file = config
        .database
        .url
        .expose()
        .strip_prefix("sqlite://")
        .map(std::path::PathBuf::from);
    if let Some(file) = &sqlite_file {
        // Connecting would create the file: a check must not change anything.
        if !file.exists() {
            return Ok((None, format!("{url} will be created at the first start")));
        }
    }
    let connect = async {
        let db = open_db(config).await.map_err(|e| format!("{e:#}"))?;
        db.ping()
            .await
            .map_err(|e| format!("cannot query {url}: {e}"))?;
        let applied = db
            .applied_migrations()
            .await
            .map_err(|e| format!("cannot read {url}: {e}"))?;
        Ok((
            Some(db),
            format!("{url} answers ({applied} migration(s) applied)"),
        ))
    };
    tokio::time::timeout(CHECK_TIMEOUT, connect)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{url} did not answer within {} s",
                CHECK_TIMEOUT.as_secs()
            ))
        })
}

async fn storage(config: &Config) -> Result<String, String> {
    match config.storage.backend {
        // Opening a local store creates its folder: a check only looks.
        StorageBackend::Local => {
            let folder = &config.storage.local_path;
            Ok(if folder.is_dir() {
                format!("folder {}", folder.display())
            } else {
                format!(
                    "folder {} will be created at the first start",
                    folder.display()
                )
            })
        }
        StorageBackend::S3 => {
            let store = media_store(config).map_err(|e| format!("{e:#}"))?;
            let bucket = config.storage.s3.bucket.clone().unwrap_or_default();
            // Listing an empty prefix answers 200 in a bucket that exists and the credentials
            // may read; a missing bucket or refused key fails here, where a HEAD would not say.
            store
                .list("config-check/")
                .await
                .map(|_| format!("bucket `{bucket}` answers"))
                .map_err(|e| format!("bucket `{bucket}` cannot be listed: {e}"))
        }
    }
}

async fn operator_key(config: &Config, db: Option<&Db>, fresh: bool) -> Result<String, String> {
    let file = &config.encryption.key_file;
    let in_use = match db {
        // Before the first migration there is no table of keys: nothing is wrapped yet.
        Some(db) if db.applied_migrations().await.unwrap_or(0) == 0 => Some(Vec::new()),
        Some(db) => Some(
            db.operator_key_ids_in_use()
                .await
                .map_err(|e| format!("cannot read the wrapped data keys: {e}"))?,
        ),
        None if fresh => Some(Vec::new()),
        None => None,
    };
    let wrapped: u64 = in_use.iter().flatten().map(|(_, n)| n).sum();
    if !file.exists() {
        return match in_use {
            Some(ids) if !ids.is_empty() => Err(format!(
                "key file {} is missing, and the database holds {wrapped} data key(s) wrapped \
                 under {}: without it no media can be read",
                file.display(),
                ids.iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(_) => Ok(format!(
                "key file {} will be generated at the first start (no data keys yet)",
                file.display()
            )),
            None => Err(format!(
                "key file {} is missing (the database could not be checked for keys)",
                file.display()
            )),
        };
    }
    let mut known = vec![OperatorKey::read_file(file)
        .map_err(|e| format!("key file {}: {e}", file.display()))?
        .id()
        .to_owned()];
    for previous in &config.encryption.previous_key_files {
        known.push(
            OperatorKey::read_file(previous)
                .map_err(|e| format!("previous key file {}: {e}", previous.display()))?
                .id()
                .to_owned(),
        );
    }
    if let Some(ids) = &in_use {
        let unknown: Vec<&str> = ids
            .iter()
            .map(|(id, _)| id.as_str())
            .filter(|id| !known.iter().any(|k| k == id))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "key file {} (key {}) does not match the database: data keys are wrapped under {}",
                file.display(),
                known[0],
                unknown.join(", ")
            ));
        }
    }
    Ok(format!(
        "key {} from {} ({wrapped} data key(s) wrapped)",
        known[0],
        file.display()
    ))
}

/// Refuses to start a process whose operator key wraps none of the data keys the database
/// holds: it would fail every job and upload it touched (another key file than the servers',
/// or another database).
pub async fn refuse_mismatched_key(config: &Config, db: &Db) -> anyhow::Result<()> {
    operator_key(config, Some(db), false)
        .await
        .map(|_| ())
        .map_err(|why| anyhow::anyhow!("refusing to start: operator key: {why}"))
}

/// Indexes the operator's media library the way the server does at start (issue 25). The
/// server leaves a broken entry out and goes on; the check fails on it, naming the file and
/// why, so an operator sees it before users miss the picture.
fn media_library(folder: &std::path::Path) -> Result<String, String> {
    let library = reelsmith_stock::Library::index(folder).map_err(|e| e.to_string())?;
    if !library.rejected.is_empty() {
        let each: Vec<String> = library.rejected.iter().map(ToString::to_string).collect();
        return Err(format!(
            "{} of its library.toml entries cannot be used: {}",
            library.rejected.len(),
            each.join("; ")
        ));
    }
    let mut said = format!("{} pictures and clips indexed", library.items.len());
    if !library.unlisted.is_empty() {
        said.push_str(&format!(
            "; not offered, as library.toml does not describe them: {}",
            library.unlisted.join(", ")
        ));
    }
    Ok(said)
}
