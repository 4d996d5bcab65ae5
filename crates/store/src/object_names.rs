//! How uploaded objects are named in media storage (P-SEC-2). Names carry nothing derived from
//! the content: a random id under the owner's prefix. Naming objects by the SHA-256 of their
//! plaintext, as early versions did, let anyone holding the bucket confirm that a user had
//! uploaded a file they already know (hash it, look for the name). [`rename_content_addressed`]
//! moves objects stored under such names to random ones, once, at start.

use futures::TryStreamExt;

use crate::crypt::SealedMedia;
use crate::db::Db;
use crate::error::StoreError;
use crate::objects::ObjectError;

/// Why renaming stopped: the database or the media store failed. Running again resumes.
#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Object(#[from] ObjectError),
}

/// A fresh, random name for an object of `owner`'s uploads.
pub fn upload_object_key(owner: &str) -> String {
    format!("uploads/{owner}/o/{}", uuid::Uuid::new_v4().simple())
}

/// Whether `key` is a name derived from the plaintext (`…/sha256/ab/<hex>`).
pub fn is_content_addressed(key: &str) -> bool {
    key.contains("/sha256/")
}

/// What [`rename_content_addressed`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RenameReport {
    /// Upload rows now pointing at a random name.
    pub renamed: u64,
    /// Old objects deleted once no row pointed at them any more.
    pub deleted: u64,
    /// Rows whose old object was already gone (nothing to copy); their rows are left alone.
    pub missing: u64,
}

/// Gives every upload stored under a content-derived name a random one: the object is re-sealed
/// under the new name (the name is part of what seals it), the row is switched only if it still
/// names the old object, and the old object is deleted when no row points at it any more.
///
/// Safe to run again at any point: a row already renamed is not selected, and the new name is
/// derived from the upload's own (random, content-free) id, so a run interrupted after the copy
/// overwrites the same object instead of leaving an orphan.
pub async fn rename_content_addressed(
    db: &Db,
    media: &SealedMedia,
) -> Result<RenameReport, RenameError> {
    let mut report = RenameReport::default();
    for (id, owner, old) in db.content_addressed_uploads().await? {
        if !is_content_addressed(&old) {
            continue;
        }
        let new = format!("uploads/{owner}/o/{id}");
        let objects = media.for_owner(&owner).await?;
        let reader = match objects.open(&old, None).await {
            Ok(reader) => reader,
            Err(ObjectError::NotFound(_)) => {
                report.missing += 1;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        let chunks = reader.stream.map_err(std::io::Error::other);
        objects.put_stream(&new, chunks).await?;
        if db.switch_upload_object(&id, &old, &new).await? {
            report.renamed += 1;
        }
        if !db.object_key_referenced(&old).await? {
            media.delete(&old).await?;
            report.deleted += 1;
        }
    }
    Ok(report)
}
