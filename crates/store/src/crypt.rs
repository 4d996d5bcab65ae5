//! Media encrypted at rest (P-SEC-2): every object is sealed with AES-256-GCM under its owner's
//! data key (see [`crate::keys`]), in fixed-size segments so a byte range can be served by
//! fetching and opening only the segments that cover it.
//!
//! Callers name the owner explicitly: `media.for_owner(&user_id).await?` gives an [`OwnerMedia`]
//! that seals on write and opens on read. Object keys (`jobs/{id}/r{rev}/video.mp4`) do not carry
//! the owner, and guessing it from a key would be the kind of implicit coupling that ends with
//! one user's key sealing another's media. Operations that need no key (existence, size,
//! deletion, listing) stay on [`SealedMedia`] itself.
//!
//! # Format (version 1), documented in `docs/store.md`
//!
//! ```text
//! header (32 bytes): "RSEM" | version u8 = 1 | segment size u32 BE = 65536
//!                    | data key id (16 bytes) | nonce prefix (7 random bytes)
//! segment i:         AES-256-GCM(plaintext[i*64KiB .. (i+1)*64KiB]) with its 16-byte tag
//!   nonce = nonce prefix | i as u32 BE | 1 if this is the last segment else 0
//!   AAD   = header | i as u64 BE | last flag | object key
//! ```
//!
//! Every object has at least one segment (an empty object has one empty, final segment), so
//! the plaintext size follows from the stored size alone, and truncating, reordering, moving an
//! object to another key or editing its header fails authentication. The nonce prefix is fresh
//! for every write, so rewriting an object never reuses a nonce under the same key.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, OsRng, Payload};
use aes_gcm::Nonce;
use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, Stream, StreamExt};

use crate::db::{now_ms, Db};
use crate::keys::{CryptError, DataKey, KeyStore, Keyring, RotationReport, DATA_KEY_ID_LEN};
use crate::objects::{file_chunks, MediaStore, ObjectError, ObjectInfo, ObjectReader};

/// Plaintext bytes per segment: large enough that the 16-byte tag is 0.02 % overhead, small
/// enough that a Range request near the end of a video opens at most two 64 KiB segments extra.
pub const SEGMENT_SIZE: u64 = 64 * 1024;
const TAG_LEN: u64 = 16;
const SEALED_SEGMENT: u64 = SEGMENT_SIZE + TAG_LEN;
/// Bytes of the header in front of the first segment.
pub const HEADER_LEN: u64 = 32;
const MAGIC: &[u8; 4] = b"RSEM";
const VERSION: u8 = 1;
const NONCE_PREFIX_LEN: usize = 7;

/// The stored size of an object of `plain` bytes.
pub fn sealed_len(plain: u64) -> u64 {
    let segments = plain.div_ceil(SEGMENT_SIZE).max(1);
    HEADER_LEN + plain + segments * TAG_LEN
}

/// The plaintext size of a stored object of `sealed` bytes; `None` when no plaintext seals to
/// that size (the object is truncated or not ours).
pub fn plain_len(sealed: u64) -> Option<u64> {
    let body = sealed.checked_sub(HEADER_LEN)?;
    let (full, rest) = (body / SEALED_SEGMENT, body % SEALED_SEGMENT);
    match rest {
        0 if full == 0 => None,
        0 => Some(full * SEGMENT_SIZE),
        r if r < TAG_LEN => None,
        r => Some(full * SEGMENT_SIZE + r - TAG_LEN),
    }
}

fn segment_count(plain: u64) -> u64 {
    plain.div_ceil(SEGMENT_SIZE).max(1)
}

#[derive(Clone)]
struct Header {
    bytes: [u8; HEADER_LEN as usize],
}

impl Header {
    fn new(key_id: &[u8; DATA_KEY_ID_LEN]) -> Header {
        let mut bytes = [0u8; HEADER_LEN as usize];
        bytes[..4].copy_from_slice(MAGIC);
        bytes[4] = VERSION;
        bytes[5..9].copy_from_slice(&(SEGMENT_SIZE as u32).to_be_bytes());
        bytes[9..25].copy_from_slice(key_id);
        OsRng.fill_bytes(&mut bytes[25..32]);
        Header { bytes }
    }

    fn parse(object_key: &str, raw: &[u8]) -> Result<Header, CryptError> {
        let format = |reason| CryptError::Format {
            key: object_key.to_owned(),
            reason,
        };
        if raw.len() != HEADER_LEN as usize || &raw[..4] != MAGIC {
            return Err(format("no sealed-object header"));
        }
        if raw[4] != VERSION {
            return Err(format("unknown format version"));
        }
        if raw[5..9] != (SEGMENT_SIZE as u32).to_be_bytes() {
            return Err(format("unexpected segment size"));
        }
        let mut bytes = [0u8; HEADER_LEN as usize];
        bytes.copy_from_slice(raw);
        Ok(Header { bytes })
    }

    fn key_id(&self) -> &[u8] {
        &self.bytes[9..25]
    }

    fn nonce(&self, index: u64, last: bool) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        nonce[..NONCE_PREFIX_LEN].copy_from_slice(&self.bytes[25..32]);
        // Callers check the index fits (the format's limit is 2^32 segments).
        nonce[7..11].copy_from_slice(&(index as u32).to_be_bytes());
        nonce[11] = u8::from(last);
        nonce
    }

    fn aad(&self, object_key: &str, index: u64, last: bool) -> Vec<u8> {
        let mut aad = Vec::with_capacity(HEADER_LEN as usize + 9 + object_key.len());
        aad.extend_from_slice(&self.bytes);
        aad.extend_from_slice(&index.to_be_bytes());
        aad.push(u8::from(last));
        aad.extend_from_slice(object_key.as_bytes());
        aad
    }
}

/// Seals or opens the segments of one object.
struct Segments {
    key: Arc<DataKey>,
    header: Header,
    object_key: String,
}

impl Segments {
    fn seal(&self, index: u64, last: bool, plain: &[u8]) -> Result<Bytes, CryptError> {
        if index > u64::from(u32::MAX) {
            return Err(CryptError::TooLarge(self.object_key.clone()));
        }
        let nonce = self.header.nonce(index, last);
        let aad = self.header.aad(&self.object_key, index, last);
        let sealed = self
            .key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptError::TooLarge(self.object_key.clone()))?;
        Ok(Bytes::from(sealed))
    }

    fn open(&self, index: u64, last: bool, sealed: &[u8]) -> Result<Vec<u8>, CryptError> {
        let failed = || CryptError::Authentication {
            key: self.object_key.clone(),
            segment: index,
        };
        if index > u64::from(u32::MAX) {
            return Err(failed());
        }
        let nonce = self.header.nonce(index, last);
        let aad = self.header.aad(&self.object_key, index, last);
        self.key
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| failed())
    }
}

/// Media storage with encryption at rest: a [`MediaStore`] plus the keys to seal and open it.
/// Cheap to clone, safe to share.
#[derive(Debug, Clone)]
pub struct SealedMedia {
    raw: MediaStore,
    keys: KeyStore,
}

impl SealedMedia {
    pub fn new(raw: MediaStore, db: Db, keyring: Keyring) -> SealedMedia {
        SealedMedia {
            raw,
            keys: KeyStore::new(db, keyring),
        }
    }

    /// The storage underneath, holding only sealed bytes (for tests and tools; reading through
    /// it yields ciphertext).
    pub fn raw(&self) -> &MediaStore {
        &self.raw
    }

    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// Everything needed to read and write `user_id`'s media: looks up their data key, creating
    /// it on first use. One database read per call; nothing is cached, so a destroyed key stops
    /// working in every process at once.
    pub async fn for_owner(&self, user_id: &str) -> Result<OwnerMedia, ObjectError> {
        let key = self.keys.data_key(user_id, now_ms()).await?;
        Ok(OwnerMedia {
            raw: self.raw.clone(),
            key: Arc::new(key),
        })
    }

    /// Crypto-shredding: destroy the user's data key (see [`KeyStore::destroy_data_key`]).
    pub async fn destroy_owner_key(&self, user_id: &str) -> Result<bool, CryptError> {
        self.keys.destroy_data_key(user_id).await
    }

    /// Re-wrap every data key under the current operator key (`reelsmith keys rotate`).
    pub async fn rotate(&self) -> Result<RotationReport, CryptError> {
        self.keys.rotate(now_ms()).await
    }

    /// What storage knows about `key`, with the plaintext size; `None` when there is no object.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectError> {
        match self.raw.head(key).await? {
            Some(info) => Ok(Some(plain_info(info)?)),
            None => Ok(None),
        }
    }

    /// Delete `key` (no key needed: deleting ciphertext is always allowed).
    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.raw.delete(key).await
    }

    /// Every object under `prefix`, with plaintext sizes (see [`MediaStore::list`]). An object
    /// not in the sealed format keeps its stored size instead of failing the listing, because
    /// listings serve clean-up, which must still find (and delete) such an object.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectError> {
        let mut infos = self.raw.list(prefix).await?;
        for info in &mut infos {
            info.size = plain_len(info.size).unwrap_or(info.size);
        }
        Ok(infos)
    }
}

fn plain_info(mut info: ObjectInfo) -> Result<ObjectInfo, ObjectError> {
    info.size = plain_len(info.size).ok_or_else(|| CryptError::Format {
        key: info.key.clone(),
        reason: "size is not that of a sealed object",
    })?;
    Ok(info)
}

/// One user's media: writes are sealed under their data key, reads are opened with it.
#[derive(Clone)]
pub struct OwnerMedia {
    raw: MediaStore,
    key: Arc<DataKey>,
}

impl std::fmt::Debug for OwnerMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OwnerMedia({:?}, {:?})", self.raw, self.key)
    }
}

impl OwnerMedia {
    fn segments_for_write(&self, object_key: &str) -> Segments {
        Segments {
            key: Arc::clone(&self.key),
            header: Header::new(self.key.id()),
            object_key: object_key.to_owned(),
        }
    }

    /// Seal and store `bytes` under `key`, replacing any object there, atomically.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<ObjectInfo, ObjectError> {
        self.put_stream(key, futures::stream::iter([Ok(bytes)]))
            .await
    }

    /// Seal and store a stream of chunks without holding it in memory; the object appears only
    /// when the stream ends cleanly (see [`MediaStore::put_stream`]). The reported size is the
    /// plaintext's.
    pub async fn put_stream<S>(&self, key: &str, stream: S) -> Result<ObjectInfo, ObjectError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
    {
        let sealed = seal_stream(self.segments_for_write(key), stream);
        let info = self.raw.put_stream(key, sealed).await?;
        plain_info(info)
    }

    /// Seal a local file (a rendered video, say) into storage under `key`.
    pub async fn put_file(&self, key: &str, file: &Path) -> Result<ObjectInfo, ObjectError> {
        self.put_stream(key, file_chunks(file).await?).await
    }

    /// The object's plaintext size and metadata; `None` when there is no object.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectError> {
        match self.raw.head(key).await? {
            Some(info) => Ok(Some(plain_info(info)?)),
            None => Ok(None),
        }
    }

    /// Delete `key`; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.raw.delete(key).await
    }

    /// The whole object, opened.
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, ObjectError> {
        let reader = self.open(key, None).await?;
        collect(reader).await
    }

    /// Plaintext bytes `range.start..range.end`; an end past the object's end is clamped.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, ObjectError> {
        let reader = self.open(key, Some(range)).await?;
        collect(reader).await
    }

    /// Open the object (or a plaintext byte range of it) as a stream, for HTTP responses, with
    /// the same clamping and errors as [`MediaStore::open`]. Reads the header (and checks the
    /// object is sealed under this owner's key) before returning, so a foreign or shredded
    /// object is an error rather than a response that breaks off; then fetches exactly the
    /// segments covering the range with one ranged read and opens them as they arrive.
    pub async fn open(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ObjectReader, ObjectError> {
        let sealed_size = self
            .raw
            .head(key)
            .await?
            .ok_or_else(|| ObjectError::NotFound(key.to_owned()))?
            .size;
        let size = plain_len(sealed_size).ok_or_else(|| CryptError::Format {
            key: key.to_owned(),
            reason: "size is not that of a sealed object",
        })?;
        let range = crate::objects::byte_range(range, size)?;
        let header_bytes = self.raw.get_range(key, 0..HEADER_LEN).await?;
        let header = Header::parse(key, &header_bytes)?;
        if header.key_id() != self.key.id() {
            return Err(CryptError::KeyUnavailable {
                key: key.to_owned(),
            }
            .into());
        }
        let segments = Segments {
            key: Arc::clone(&self.key),
            header,
            object_key: key.to_owned(),
        };
        let total = segment_count(size);
        if range.is_empty() {
            // An empty object: still authenticate its one (empty) segment, so a forged empty
            // object is not served as genuine.
            let sealed = self.raw.get_range(key, HEADER_LEN..sealed_size).await?;
            segments.open(0, true, &sealed)?;
            return Ok(ObjectReader {
                size,
                range,
                stream: futures::stream::empty().boxed(),
            });
        }
        let first = range.start / SEGMENT_SIZE;
        let last = (range.end - 1) / SEGMENT_SIZE;
        let fetch = HEADER_LEN + first * SEALED_SEGMENT
            ..(HEADER_LEN + (last + 1) * SEALED_SEGMENT).min(sealed_size);
        let inner = self.raw.open(key, Some(fetch)).await?.stream;
        let state = OpenState {
            inner,
            buf: BytesMut::new(),
            segments,
            next: first,
            last,
            total,
            sealed_size,
            range: range.clone(),
        };
        let stream = futures::stream::try_unfold(state, open_next).boxed();
        Ok(ObjectReader {
            size,
            range,
            stream,
        })
    }
}

async fn collect(reader: ObjectReader) -> Result<Bytes, ObjectError> {
    use futures::TryStreamExt;
    let chunks: Vec<Bytes> = reader.stream.try_collect().await?;
    Ok(Bytes::from(chunks.concat()))
}

struct OpenState {
    inner: BoxStream<'static, Result<Bytes, ObjectError>>,
    buf: BytesMut,
    segments: Segments,
    /// The next segment to open, and the last one the range needs.
    next: u64,
    last: u64,
    /// Segments in the whole object: the last of them carries the final flag.
    total: u64,
    sealed_size: u64,
    range: Range<u64>,
}

async fn open_next(mut st: OpenState) -> Result<Option<(Bytes, OpenState)>, ObjectError> {
    if st.next > st.last {
        return Ok(None);
    }
    let index = st.next;
    let is_final = index + 1 == st.total;
    let want = if is_final {
        (st.sealed_size - HEADER_LEN - index * SEALED_SEGMENT) as usize
    } else {
        SEALED_SEGMENT as usize
    };
    while st.buf.len() < want {
        match st.inner.next().await {
            Some(chunk) => st.buf.extend_from_slice(&chunk?),
            None => {
                return Err(CryptError::Format {
                    key: st.segments.object_key.clone(),
                    reason: "object ended early (it changed while being read)",
                }
                .into())
            }
        }
    }
    let sealed = st.buf.split_to(want);
    let plain = Bytes::from(st.segments.open(index, is_final, &sealed)?);
    let base = index * SEGMENT_SIZE;
    let lo = st.range.start.saturating_sub(base) as usize;
    let hi = (st.range.end - base).min(plain.len() as u64) as usize;
    st.next += 1;
    Ok(Some((plain.slice(lo..hi), st)))
}

struct SealState<S> {
    input: std::pin::Pin<Box<S>>,
    buf: BytesMut,
    segments: Segments,
    index: u64,
    header_sent: bool,
    finished: bool,
}

/// Turn a plaintext stream into the sealed format: the header, then a segment whenever more than
/// one segment's worth is buffered (a full segment is held back until we know whether it is
/// the last), then the final segment when the input ends.
fn seal_stream<S>(
    segments: Segments,
    input: S,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
{
    let state = SealState {
        input: Box::pin(input),
        buf: BytesMut::new(),
        segments,
        index: 0,
        header_sent: false,
        finished: false,
    };
    futures::stream::try_unfold(state, |mut st| async move {
        if st.finished {
            return Ok::<_, std::io::Error>(None);
        }
        if !st.header_sent {
            st.header_sent = true;
            let header = Bytes::copy_from_slice(&st.segments.header.bytes);
            return Ok(Some((header, st)));
        }
        loop {
            if st.buf.len() as u64 > SEGMENT_SIZE {
                let plain = st.buf.split_to(SEGMENT_SIZE as usize);
                let sealed = st
                    .segments
                    .seal(st.index, false, &plain)
                    .map_err(std::io::Error::other)?;
                st.index += 1;
                return Ok(Some((sealed, st)));
            }
            match st.input.next().await {
                Some(chunk) => st.buf.extend_from_slice(&chunk?),
                None => {
                    st.finished = true;
                    let plain = std::mem::take(&mut st.buf);
                    let sealed = st
                        .segments
                        .seal(st.index, true, &plain)
                        .map_err(std::io::Error::other)?;
                    return Ok(Some((sealed, st)));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip() {
        for plain in [
            0,
            1,
            SEGMENT_SIZE - 1,
            SEGMENT_SIZE,
            SEGMENT_SIZE + 1,
            3 * SEGMENT_SIZE,
            3 * SEGMENT_SIZE + 17,
        ] {
            assert_eq!(plain_len(sealed_len(plain)), Some(plain), "{plain}");
        }
        assert_eq!(sealed_len(0), HEADER_LEN + TAG_LEN);
        assert_eq!(plain_len(0), None);
        assert_eq!(plain_len(HEADER_LEN), None);
        assert_eq!(plain_len(HEADER_LEN + 5), None);
        assert_eq!(plain_len(HEADER_LEN + SEALED_SEGMENT + 3), None);
    }
}
