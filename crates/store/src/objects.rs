//! Media object storage over the `object_store` crate: a local folder by default, any
//! S3-compatible service by configuration (P-SEC-1). Writes are atomic: the local folder stages
//! into a temporary file and renames, S3 publishes an object only when its upload completes, so
//! a crash mid-write never leaves a partial object under the real key.
//!
//! This layer stores bytes as given. Encryption at rest (P-SEC-2) sits on top of it in
//! [`crate::crypt`]: media is written and read through `SealedMedia::for_owner`, which seals
//! under the owner's data key, so everything a `MediaStore` holds in production is ciphertext.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, PutPayload, WriteMultipart};
use reelsmith_core::{Code, ErrorCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

/// How many parts of one streaming upload may be in flight at once.
const UPLOAD_CONCURRENCY: usize = 4;
/// Read size when streaming a file into storage.
const FILE_CHUNK: usize = 1024 * 1024;

/// Why a media storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The key is empty, too long, or has characters outside `[A-Za-z0-9._/-]` or empty or
    /// dot segments. Keys are made by our code, so this is a bug, not user input.
    #[error("invalid object key `{0}`")]
    InvalidKey(String),
    #[error("object `{0}` not found")]
    NotFound(String),
    /// The requested byte range starts at or past the end of the object, or is empty.
    #[error("range {start}..{end} is not satisfiable for an object of {size} bytes")]
    RangeNotSatisfiable { start: u64, end: u64, size: u64 },
    /// The storage configuration cannot be used (missing bucket, unreadable folder).
    #[error("media storage configuration: {0}")]
    Config(String),
    #[error("reading the source failed: {0}")]
    Source(#[from] std::io::Error),
    #[error("media storage failed: {0}")]
    Backend(#[source] object_store::Error),
    /// Sealing or opening the object failed (P-SEC-2): see [`crate::keys::CryptError`].
    #[error(transparent)]
    Crypt(#[from] crate::keys::CryptError),
}

impl ErrorCode for ObjectError {
    fn code(&self) -> Code {
        match self {
            ObjectError::InvalidKey(_) => Code::MediaInvalidKey,
            ObjectError::NotFound(_) => Code::MediaNotFound,
            ObjectError::RangeNotSatisfiable { .. } => Code::MediaRangeNotSatisfiable,
            ObjectError::Config(_) => Code::MediaConfig,
            ObjectError::Source(_) => Code::MediaSource,
            ObjectError::Backend(_) => Code::MediaBackend,
            ObjectError::Crypt(err) => err.code(),
        }
    }

    fn is_client_error(&self) -> bool {
        matches!(
            self,
            ObjectError::NotFound(_) | ObjectError::RangeNotSatisfiable { .. }
        )
    }
}

fn backend_error(key: &str, err: object_store::Error) -> ObjectError {
    match err {
        object_store::Error::NotFound { .. } => ObjectError::NotFound(key.to_owned()),
        other => ObjectError::Backend(other),
    }
}

/// Settings for an S3-compatible service (AWS S3, Cloudflare R2, MinIO, ...).
#[derive(Debug, Clone, Default)]
pub struct S3Config {
    /// The service URL; `None` for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `https://host/bucket/key` instead of `https://bucket.host/key` (MinIO and most
    /// self-hosted services need this).
    pub path_style: bool,
    /// Permit a plain-HTTP endpoint (local test servers).
    pub allow_http: bool,
}

/// Bounds on every request to an S3 service: without them a frozen endpoint holds a job or a
/// readiness probe for minutes (the client's defaults retry ten times within three minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Limits {
    /// The whole request, connecting until the last byte of the answer.
    pub timeout: std::time::Duration,
    pub connect_timeout: std::time::Duration,
    /// Retries of one request the client makes itself (5xx, timeouts), with backoff.
    pub max_retries: usize,
    /// No retry starts after this long since the first try.
    pub retry_timeout: std::time::Duration,
}

impl Default for S3Limits {
    fn default() -> Self {
        S3Limits {
            timeout: std::time::Duration::from_secs(30),
            connect_timeout: std::time::Duration::from_secs(5),
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// Where media lives.
#[derive(Debug, Clone)]
pub enum MediaConfig {
    /// A folder on this machine (the embedded default is `<data>/media`).
    Local {
        root: PathBuf,
    },
    S3(S3Config),
}

/// What storage knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub last_modified_ms: i64,
    pub e_tag: Option<String>,
}

impl ObjectInfo {
    fn from_meta(meta: &ObjectMeta) -> ObjectInfo {
        ObjectInfo {
            key: meta.location.to_string(),
            size: meta.size,
            last_modified_ms: meta.last_modified.timestamp_millis(),
            e_tag: meta.e_tag.clone(),
        }
    }
}

/// An object opened for streaming, whole or a byte range of it.
pub struct ObjectReader {
    /// The whole object's size (for `Content-Range: bytes a-b/size`).
    pub size: u64,
    /// The bytes this stream yields, end exclusive.
    pub range: Range<u64>,
    pub stream: BoxStream<'static, Result<Bytes, ObjectError>>,
}

/// The media store every crate uses: cheap to clone, safe to share.
#[derive(Clone)]
pub struct MediaStore {
    inner: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MediaStore({})", self.inner)
    }
}

impl MediaStore {
    /// Build the store a configuration names.
    pub fn from_config(config: &MediaConfig) -> Result<MediaStore, ObjectError> {
        match config {
            MediaConfig::Local { root } => MediaStore::local(root),
            MediaConfig::S3(s3) => MediaStore::s3(s3),
        }
    }

    /// A store in a local folder, created when missing.
    pub fn local(root: &Path) -> Result<MediaStore, ObjectError> {
        std::fs::create_dir_all(root).map_err(|e| {
            ObjectError::Config(format!(
                "cannot create media folder {}: {e}",
                root.display()
            ))
        })?;
        let fs = LocalFileSystem::new_with_prefix(root)
            .map_err(|e| ObjectError::Config(e.to_string()))?
            .with_automatic_cleanup(true);
        Ok(MediaStore::from_object_store(Arc::new(fs)))
    }

    /// A store in an S3-compatible bucket (which must exist).
    pub fn s3(config: &S3Config) -> Result<MediaStore, ObjectError> {
        MediaStore::s3_with(config, S3Limits::default())
    }

    /// A store in an S3-compatible bucket, every request bounded by `limits`.
    pub fn s3_with(config: &S3Config, limits: S3Limits) -> Result<MediaStore, ObjectError> {
        if config.bucket.is_empty() {
            return Err(ObjectError::Config("an S3 bucket name is required".into()));
        }
        let mut builder = AmazonS3Builder::new()
            .with_region(&config.region)
            .with_bucket_name(&config.bucket)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_virtual_hosted_style_request(!config.path_style)
            // The client options replace the builder's whole set, `allow_http` included, so it
            // is given here rather than through `with_allow_http`.
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_allow_http(config.allow_http)
                    .with_timeout(limits.timeout)
                    .with_connect_timeout(limits.connect_timeout),
            )
            .with_retry(object_store::RetryConfig {
                max_retries: limits.max_retries,
                retry_timeout: limits.retry_timeout,
                ..Default::default()
            });
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let s3 = builder
            .build()
            .map_err(|e| ObjectError::Config(e.to_string()))?;
        Ok(MediaStore::from_object_store(Arc::new(s3)))
    }

    /// Wrap any `ObjectStore`, for example an encrypting layer over one of the above.
    pub fn from_object_store(inner: Arc<dyn ObjectStore>) -> MediaStore {
        MediaStore { inner }
    }

    /// The underlying store, for wrapping.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.inner)
    }

    /// Store `bytes` under `key`, replacing any object there, in one atomic write.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<ObjectInfo, ObjectError> {
        let path = object_path(key)?;
        self.inner
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| backend_error(key, e))?;
        self.head_existing(key).await
    }

    /// Store a stream of chunks under `key` without holding it all in memory. The object appears
    /// only when the stream ends cleanly; on a stream error the upload is aborted and nothing is
    /// visible under `key`.
    pub async fn put_stream<S>(&self, key: &str, stream: S) -> Result<ObjectInfo, ObjectError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
    {
        let path = object_path(key)?;
        let upload = self
            .inner
            .put_multipart(&path)
            .await
            .map_err(|e| backend_error(key, e))?;
        let mut writer = WriteMultipart::new(upload);
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    let _ = writer.abort().await;
                    return Err(ObjectError::Source(err));
                }
            };
            if let Err(err) = writer.wait_for_capacity(UPLOAD_CONCURRENCY).await {
                let _ = writer.abort().await;
                return Err(backend_error(key, err));
            }
            writer.write(&chunk);
        }
        writer.finish().await.map_err(|e| backend_error(key, e))?;
        self.head_existing(key).await
    }

    /// Stream a local file (a rendered video, say) into storage under `key`.
    pub async fn put_file(&self, key: &str, file: &Path) -> Result<ObjectInfo, ObjectError> {
        self.put_stream(key, file_chunks(file).await?).await
    }

    /// The whole object.
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, ObjectError> {
        let path = object_path(key)?;
        let result = self
            .inner
            .get(&path)
            .await
            .map_err(|e| backend_error(key, e))?;
        result.bytes().await.map_err(|e| backend_error(key, e))
    }

    /// Bytes `range.start..range.end` of the object; an end past the object's end is clamped.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, ObjectError> {
        let reader = self.open(key, Some(range)).await?;
        let chunks: Vec<Bytes> = reader.stream.try_collect().await?;
        Ok(Bytes::from(chunks.concat()))
    }

    /// Open the object (or a byte range of it) as a stream, for HTTP responses. An end past the
    /// object's end is clamped; a range that starts at or past the end, or is empty, is
    /// [`ObjectError::RangeNotSatisfiable`].
    pub async fn open(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ObjectReader, ObjectError> {
        let path = object_path(key)?;
        let size = self.head_existing(key).await?.size;
        let range = byte_range(range, size)?;
        let options = GetOptions {
            range: (size > 0).then(|| GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        let result = self
            .inner
            .get_opts(&path, options)
            .await
            .map_err(|e| backend_error(key, e))?;
        let owned_key = key.to_owned();
        let stream = result
            .into_stream()
            .map_err(move |e| backend_error(&owned_key, e))
            .boxed();
        Ok(ObjectReader {
            size,
            range,
            stream,
        })
    }

    /// What storage knows about `key`, or `None` when there is no such object.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectError> {
        let path = object_path(key)?;
        match self.inner.head(&path).await {
            Ok(meta) => Ok(Some(ObjectInfo::from_meta(&meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(ObjectError::Backend(err)),
        }
    }

    async fn head_existing(&self, key: &str) -> Result<ObjectInfo, ObjectError> {
        self.head(key)
            .await?
            .ok_or_else(|| ObjectError::NotFound(key.to_owned()))
    }

    /// Delete `key`. Deleting a missing object is not an error (deletes are retried).
    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        let path = object_path(key)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(ObjectError::Backend(err)),
        }
    }

    /// Every object whose key lies under the folder-like `prefix` (`"uploads/u1"` matches
    /// `uploads/u1/...`, not `uploads/u10/...`), sorted by key. An empty prefix lists all.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectError> {
        let prefix = if prefix.is_empty() {
            None
        } else {
            Some(object_path(prefix.trim_end_matches('/'))?)
        };
        let metas: Vec<ObjectMeta> = self
            .inner
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| backend_error("(list)", e))?;
        let mut infos: Vec<ObjectInfo> = metas.iter().map(ObjectInfo::from_meta).collect();
        infos.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(infos)
    }
}

/// Check a key and turn it into a storage path. Only a conservative alphabet is allowed so a
/// key means the same on every backend and can never escape the local root.
fn object_path(key: &str) -> Result<ObjectPath, ObjectError> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/');
    let valid = !key.is_empty()
        && key.len() <= 512
        && key.chars().all(valid_char)
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if !valid {
        return Err(ObjectError::InvalidKey(key.to_owned()));
    }
    ObjectPath::parse(key).map_err(|_| ObjectError::InvalidKey(key.to_owned()))
}

/// A local file as a stream of chunks of up to [`FILE_CHUNK`] bytes, for `put_stream`.
pub(crate) async fn file_chunks(
    path: &Path,
) -> Result<impl Stream<Item = std::io::Result<Bytes>>, ObjectError> {
    let file = tokio::fs::File::open(path).await?;
    Ok(futures::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; FILE_CHUNK];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    }))
}

/// The content-addressed key for `bytes` under `namespace` (for example `uploads/<user id>`):
/// `<namespace>/sha256/<first two hex digits>/<hex digest>`. Equal content gets an equal key,
/// so storing it twice stores it once.
pub fn content_key(namespace: &str, bytes: &[u8]) -> String {
    let mut hasher = ContentHasher::new();
    hasher.update(bytes);
    hasher.key(namespace)
}

/// Computes a content key incrementally, for content that arrives in chunks.
#[derive(Clone, Default)]
pub struct ContentHasher {
    digest: Sha256,
}

impl ContentHasher {
    pub fn new() -> ContentHasher {
        ContentHasher::default()
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.digest.update(chunk);
    }

    /// The key for everything fed so far (see [`content_key`]).
    pub fn key(self, namespace: &str) -> String {
        let hex = hex::encode(self.digest.finalize());
        let namespace = namespace.trim_end_matches('/');
        format!("{namespace}/sha256/{}/{hex}", &hex[..2])
    }
}

/// The bytes a request for `range` of an object of `size` bytes gets: all of them without a
/// range, an end past the object's end clamped, and a range that is empty or starts at or past
/// the end refused.
pub(crate) fn byte_range(range: Option<Range<u64>>, size: u64) -> Result<Range<u64>, ObjectError> {
    match range {
        None => Ok(0..size),
        Some(r) if r.start >= r.end || r.start >= size => Err(ObjectError::RangeNotSatisfiable {
            start: r.start,
            end: r.end,
            size,
        }),
        Some(r) => Ok(r.start..r.end.min(size)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_keys_are_stable_and_namespaced() {
        let key = content_key("uploads/u1", b"abc");
        assert_eq!(
            key,
            "uploads/u1/sha256/ba/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut hasher = ContentHasher::new();
        hasher.update(b"a");
        hasher.update(b"bc");
        assert_eq!(hasher.key("uploads/u1/"), key);
        assert!(object_path(&key).is_ok());
    }

    #[test]
    fn keys_that_could_escape_or_differ_between_backends_are_refused() {
        for bad in ["", "../x", "a//b", "a/./b", "a b", "a#1", "/abs", "a/", "ü"] {
            assert!(
                matches!(object_path(bad), Err(ObjectError::InvalidKey(_))),
                "{bad:?} should be refused"
            );
        }
        assert!(object_path("jobs/j1/r1/video.mp4").is_ok());
    }
}
