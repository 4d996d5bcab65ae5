//! Reelsmith's persistence layer: the database (SQLite by default, PostgreSQL in production) with
//! its repositories and the job queue, and media object storage (a local folder or S3).
//!
//! The database is the only coordination point between processes: API servers and workers share
//! nothing else. See `docs/store.md` for the data model and the queue's semantics.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod audit;
pub mod batches;
pub mod billing;
pub mod breach;
pub mod codes;
pub mod consents;
pub mod credits;
pub mod crypt;
pub mod db;
pub mod deployment;
pub mod error;
pub mod exports;
pub mod jobs;
pub mod keys;
pub mod live;
pub mod marketing;
pub mod moderation;
pub mod notify;
pub mod object_names;
pub mod objects;
pub mod oidc;
pub mod policies;
pub mod presets;
pub mod queue;
pub mod rate_limit;
pub mod retention;
pub mod rights;
pub mod secret;
pub mod sessions;
pub mod sharing;
pub mod staff;
pub mod stock_offers;
pub mod storyboards;
pub mod transfers;
pub mod uploads;
pub mod users;
pub mod webhooks;

pub use audit::{AuditEntry, NewAuditEntry};
pub use batches::{Batch, BatchOnce, CreatedBatch, NewBatchJob};
pub use billing::{
    BillingChange, Checkout, CreditOnce, EventOutcome, NewPayment, Payment, PlanChange, UserPlan,
};
pub use breach::{BreachNotice, BreachSend, BreachSummary};
pub use codes::{CodeCheck, CodePurpose, MAX_CODE_ATTEMPTS};
pub use consents::Consent;
pub use credits::{CreditHold, CreditKind, LedgerEntry};
pub use crypt::{OwnerMedia, SealedMedia};
pub use db::{new_id, now_ms, Backend, Db, UnixMillis};
pub use deployment::{Deployment, DEPLOYMENT_MARKER_KEY};
pub use error::{StoreError, StoreResult};
pub use exports::{export_key, export_prefix, Export, ExportStatus};
pub use jobs::{
    CancelOutcome, Job, JobError, JobEvent, JobRevision, JobStatus, NewJob, StageOutput,
    SubmittedJob,
};
pub use keys::{CryptError, DataKey, KeyStore, Keyring, OperatorKey, RotationReport};
pub use live::{JobEventSubscription, LiveEvents, JOB_EVENTS_CHANNEL};
pub use marketing::MarketingRecipient;
pub use moderation::{HeldJob, LegalRequest, NewReport, ReportedWork, Takedown, HELD_UNTIL};
pub use notify::{JobQueuedListener, JOB_QUEUED_CHANNEL};
pub use object_names::{
    is_content_addressed, rename_content_addressed, upload_object_key, RenameError, RenameReport,
};
pub use objects::{
    content_key, ContentHasher, MediaConfig, MediaStore, ObjectError, ObjectInfo, ObjectReader,
    S3Config, S3Limits,
};
pub use oidc::{OidcFlow, OidcIdentity, OidcPending, UnlinkOutcome};
pub use policies::{PolicyAcceptance, PolicyKind, PolicyVersion, UserContact};
pub use presets::Preset;
pub use queue::{ClaimedJob, Lease, RunLimits};
pub use rate_limit::RateDecision;
pub use retention::{upload_ids_in, EndedRevision, JobUploadRefs, RevisionKeys};
pub use rights::{RightsKind, RightsOutcome, RightsRequest, RIGHTS_DUE_DAYS};
pub use sessions::{ApiToken, NewSession, Session, TOKEN_TOUCH_EVERY_MS};
pub use sharing::{GallerySort, PublicWork, Publication, ShareLink, SharedWork, ShownDetails};
pub use staff::{AuditFilter, JobFailure, StaffUserRow, TotpState};
pub use stock_offers::StockOffer;
pub use storyboards::{DraftStoryboard, ReplaceOutcome};
pub use transfers::{NewTransfer, Transfer};
pub use uploads::{NewUpload, Page, Upload, UploadKind};
pub use users::{NewUser, Role, User};
pub use webhooks::{AttemptOutcome, DueDelivery, WebhookDelivery, WebhookEndpoint};
