//! Why a job's pipeline stopped. Client errors (bad parameters, missing uploads, input the engine
//! refuses) fail the job at once; everything else is ours and is retried.

use reelsmith_core::{Code, ErrorCode};
use reelsmith_media::render::RenderError;
use reelsmith_providers::ProviderError;
use reelsmith_store::{ObjectError, StoreError};

use crate::job_plan::JobPlanError;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The job's parameters are not a render spec (the API validates them, so this is rare).
    #[error("the job's parameters are not valid: {0}")]
    InvalidParams(String),
    /// A media or voice reference names no upload of the job's owner (deleted since, say).
    #[error("upload `{0}` does not exist")]
    UploadNotFound(String),
    #[error(transparent)]
    Music(reelsmith_media::music::LibraryError),
    /// An upload of the wrong kind in a slot: audio as a scene, an image as the voice.
    #[error("upload `{id}` is {kind}, which cannot be used as {role}")]
    WrongUploadKind {
        id: String,
        kind: &'static str,
        role: &'static str,
    },
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The job's provider or model cannot serve it (unknown model, an image model without an
    /// image, a script with no words).
    #[error(transparent)]
    Plan(JobPlanError),
    /// A call to the job's provider failed (after the call policy's own retries).
    #[error(transparent)]
    Provider(ProviderError),
    /// A provider's request failed and the shot was already sent again as often as the operator
    /// allows (`providers.max_resubmissions`): not sent a further, paid, time.
    #[error("{0} (the shot was already sent again {1} time(s); it is not sent again)")]
    ProviderGaveUp(ProviderError, u32),
    /// The provider asked to be left alone longer than the job may wait (`Retry-After`).
    #[error("{0}, longer than a job waits ({1})")]
    ProviderBusy(ProviderError, String),
    /// The owner has not consented to sending data to this provider (P-TP-2): nothing was sent.
    #[error("consent is required before anything is sent to `{0}`: give it on the privacy page")]
    ConsentRequired(String),
    /// The job names a provider this installation has no key for.
    #[error("provider `{0}` is not configured on this server")]
    ProviderNotConfigured(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Object(ObjectError),
    /// An object this worker stored earlier (a recorded stage output) has gone missing.
    #[error("stored output `{0}` is missing")]
    OutputMissing(String),
    #[error("work folder: {0}")]
    Io(#[from] std::io::Error),
    /// The temporary folder ran out of space (or quota) while the job wrote to it; the original
    /// failure, for the log. Not the job's fault, and not a fault of this worker that another
    /// job would meet too once the space is back, so it is retried like any failure of ours.
    #[error("the temporary folder is full: {0}")]
    DiskFull(String),
    /// A blocking task (the render, a work folder's creation or removal) panicked: a bug,
    /// retried like any failure of ours.
    #[error("a worker task panicked: {0}")]
    TaskPanicked(String),
    /// A blocking task was cancelled before it finished (the runtime is shutting down).
    #[error("a worker task was cancelled before it finished")]
    TaskCancelled,
    /// Joining a scene's shots into one clip failed (ffmpeg's words are in the source).
    #[error("joining the shots of scene {scene} failed: {source}")]
    JoinShots {
        scene: usize,
        source: reelsmith_media::process::ProcessError,
    },
    /// The image classifier refused an input image or a generated frame (P-SAFE-1).
    #[error("{what} breaks this server's content rules ({}); nothing was charged", categories.join(", "))]
    ImageRefused {
        what: &'static str,
        categories: Vec<String>,
    },
    /// The image classifier could not check an image (a frame that would not decode, a model
    /// that failed): ours, retried.
    #[error("the image check failed: {0}")]
    ImageCheck(String),
    /// A storyboard's stock or library picture could not be fetched (issue 25).
    #[error(transparent)]
    Stock(reelsmith_stock::StockError),
}

impl WorkerError {
    /// The same failure as [`WorkerError::DiskFull`] when a full disk caused it, so the owner
    /// and the operator read one stable code (`worker.disk_full`) whichever step hit it: a
    /// write of ours (`ENOSPC`/`EDQUOT` in the error chain) or a tool such as ffmpeg, which
    /// reports it only in its own words, with the system's message for those errors.
    pub fn or_disk_full(self) -> WorkerError {
        if self.is_client_error() || matches!(self, WorkerError::DiskFull(_)) {
            return self;
        }
        if caused_by_full_disk(&self) {
            return WorkerError::DiskFull(self.to_string());
        }
        self
    }
}

fn caused_by_full_disk(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(io.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) {
                return true;
            }
        }
        next = e.source();
    }
    let said = err.to_string();
    ["No space left on device", "Disk quota exceeded"]
        .iter()
        .any(|m| said.contains(m))
}

impl From<tokio::task::JoinError> for WorkerError {
    fn from(err: tokio::task::JoinError) -> Self {
        if err.is_cancelled() {
            return WorkerError::TaskCancelled;
        }
        let message = err.into_panic();
        let text = message
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| message.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        WorkerError::TaskPanicked(text)
    }
}

impl From<ObjectError> for WorkerError {
    fn from(err: ObjectError) -> Self {
        WorkerError::Object(err)
    }
}

impl ErrorCode for WorkerError {
    fn code(&self) -> Code {
        match self {
            WorkerError::InvalidParams(_) => Code::JobInvalidParams,
            WorkerError::UploadNotFound(_) => Code::JobUploadNotFound,
            WorkerError::Music(e) => e.code(),
            WorkerError::WrongUploadKind { .. } => Code::JobWrongUploadKind,
            WorkerError::Render(e) => e.code(),
            WorkerError::Plan(e) => e.code(),
            WorkerError::Provider(e)
            | WorkerError::ProviderGaveUp(e, _)
            | WorkerError::ProviderBusy(e, _) => e.code(),
            WorkerError::ConsentRequired(_) => Code::ConsentRequired,
            WorkerError::ProviderNotConfigured(_) => Code::ProviderNotConfigured,
            WorkerError::Store(e) => e.code(),
            WorkerError::Object(e) => e.code(),
            WorkerError::OutputMissing(_) => Code::JobOutputMissing,
            WorkerError::Io(_) => Code::WorkerIo,
            WorkerError::DiskFull(_) => Code::WorkerDiskFull,
            WorkerError::TaskPanicked(_) | WorkerError::TaskCancelled => Code::WorkerTask,
            WorkerError::JoinShots { source, .. } => source.code(),
            WorkerError::ImageRefused { .. } => Code::ModerationImageRefused,
            WorkerError::ImageCheck(_) => Code::ModerationImageCheckFailed,
            WorkerError::Stock(e) => e.code(),
        }
    }

    fn is_client_error(&self) -> bool {
        match self {
            WorkerError::InvalidParams(_)
            | WorkerError::UploadNotFound(_)
            | WorkerError::Music(_)
            | WorkerError::WrongUploadKind { .. }
            | WorkerError::ImageRefused { .. } => true,
            WorkerError::Render(e) => e.is_client_error(),
            WorkerError::Plan(_)
            | WorkerError::ConsentRequired(_)
            | WorkerError::ProviderNotConfigured(_)
            | WorkerError::ProviderGaveUp(..)
            | WorkerError::ProviderBusy(..) => true,
            // A refused key or a forbidden host will not fix itself on a retry either.
            WorkerError::Provider(e) => {
                e.is_client_error()
                    || matches!(
                        e,
                        ProviderError::Unauthorized { .. }
                            | ProviderError::ForbiddenHost { .. }
                            | ProviderError::Config(_)
                            | ProviderError::TooLarge { .. }
                            | ProviderError::InsufficientCredits { .. }
                            | ProviderError::ResultExpired { .. }
                    )
            }
            // A missing object or a refused range is a client error for the API; inside the
            // pipeline every storage failure is ours and worth retrying.
            WorkerError::Store(_)
            | WorkerError::Object(_)
            | WorkerError::OutputMissing(_)
            | WorkerError::Io(_)
            | WorkerError::DiskFull(_)
            | WorkerError::TaskPanicked(_)
            | WorkerError::TaskCancelled
            | WorkerError::JoinShots { .. }
            | WorkerError::ImageCheck(_) => false,
            // An outage of the stock provider may pass; a file over the limits, a refused key
            // or a library entry gone will not.
            WorkerError::Stock(e) => !matches!(
                e,
                reelsmith_stock::StockError::Io(_)
                    | reelsmith_stock::StockError::Provider(
                        ProviderError::Unavailable { .. }
                            | ProviderError::Network { .. }
                            | ProviderError::RateLimited { .. }
                    )
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_full_disk_is_told_as_worker_disk_full_whichever_step_met_it() {
        let ours = WorkerError::Io(std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(ours.or_disk_full().code(), Code::WorkerDiskFull);
        let ffmpeg = WorkerError::JoinShots {
            scene: 0,
            source: reelsmith_media::process::ProcessError::Failed {
                program: "ffmpeg",
                status: std::process::ExitStatus::from_raw(256),
                stderr: "out.mp4: No space left on device".into(),
            },
        };
        let full = ffmpeg.or_disk_full();
        assert_eq!(full.code(), Code::WorkerDiskFull);
        assert!(
            !full.is_client_error(),
            "retried: another worker may have room"
        );
        let other = WorkerError::Io(std::io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(other.or_disk_full().code(), Code::WorkerIo);
        let client = WorkerError::UploadNotFound("No space left on device".into());
        assert_eq!(client.or_disk_full().code(), Code::JobUploadNotFound);
    }
}
