//! The stock and library pictures a storyboard's scenes show (issue 25): each is fetched into
//! the job's work folder before anything else uses the inputs, so the image check screens it
//! like an upload. A Pexels or Pixabay file is downloaded with `stock::download` within the
//! operator's `[stock]` limits, after the owner's consent is checked and the download logged
//! (P-TP-2, P-TP-4); a library file is copied from the library folder, never from outside it.
//! A refused or failed download fails the job with its `stock.*` or `provider.*` code (the
//! reservation is refunded like any failure) and leaves nothing in the folder.

use std::path::{Path, PathBuf};

use reelsmith_core::{ErrorCode, RenderSpec};
use reelsmith_jobs::Storyboard;
use reelsmith_stock::{Candidate, DownloadLimits, Source, StockError};
use reelsmith_store::{now_ms, ClaimedJob, NewTransfer};
use serde_json::json;

use crate::context::{ensure_not_paused, Halt, Inputs, JobContext};
use crate::error::WorkerError;
use crate::workdir::WorkFolder;

/// Appends the storyboard's stock pictures to the render's media, after its uploads (the
/// order `Storyboard::given_scenes` indexes), named `stock-<k>` in the spec.
pub(crate) async fn fetch(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    storyboard: Option<&Storyboard>,
    folder: &WorkFolder,
    mut spec: RenderSpec,
    mut inputs: Inputs,
) -> Result<(RenderSpec, Inputs), Halt> {
    let Some(board) = storyboard else {
        return Ok((spec, inputs));
    };
    for (k, offer) in board.stock_offers().into_iter().enumerate() {
        let dest = folder.file(&format!("stock-{k}"));
        inputs.bytes += match offer.source {
            Source::Library => copy_from_library(ctx, offer, &dest).await?,
            Source::Pexels | Source::Pixabay => download(ctx, claimed, offer, &dest).await?,
            Source::Upload => {
                // The server turns an upload pick into an upload scene; one here is a bug.
                return Err(
                    WorkerError::InvalidParams("a stock scene names an upload".into()).into(),
                );
            }
        };
        inputs.media.push(dest);
        spec.media.push(format!("stock-{k}"));
    }
    Ok((spec, inputs))
}

fn stock(e: StockError) -> Halt {
    WorkerError::Stock(e).into()
}

/// Copies a library entry's file; the path must stay inside the library folder.
async fn copy_from_library(ctx: &JobContext, offer: &Candidate, dest: &Path) -> Result<u64, Halt> {
    let root = ctx.settings.stock.library.clone().ok_or_else(|| {
        stock(StockError::Library(
            "the job shows a library picture, but this worker has no `[stock] library`".into(),
        ))
    })?;
    let location = offer.location.clone();
    let dest = dest.to_path_buf();
    let copied = tokio::task::spawn_blocking(move || -> Result<u64, StockError> {
        let root = root.canonicalize().map_err(|e| {
            StockError::Library(format!("the library folder cannot be opened: {e}"))
        })?;
        let file: PathBuf = root.join(&location).canonicalize().map_err(|_| {
            StockError::Library(format!("{location}: the file is no longer in the library"))
        })?;
        if !file.starts_with(&root) || !file.is_file() {
            return Err(StockError::Library(format!(
                "{location}: not a file inside the library folder"
            )));
        }
        std::fs::copy(&file, &dest).map_err(|e| StockError::Io(e.to_string()))
    })
    .await
    .map_err(WorkerError::from)?;
    copied.map_err(stock)
}

/// Downloads a Pexels or Pixabay file, logged in the job's transfer log first.
async fn download(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    offer: &Candidate,
    dest: &Path,
) -> Result<u64, Halt> {
    let lease = &claimed.lease;
    let owner = &claimed.job.owner_id;
    let name = offer.source.name();
    let config = &ctx.settings.stock;
    let (key, base) = match offer.source {
        Source::Pexels => (&config.pexels_key, &config.pexels_base_url),
        _ => (&config.pixabay_key, &config.pixabay_base_url),
    };
    let Some(key) = key else {
        return Err(WorkerError::ProviderNotConfigured(name.into()).into());
    };
    // A pause after the claim stops this request too (P-RIGHTS-4): the job goes back to the
    // queue and fetches the file once resumed.
    ensure_not_paused(ctx, owner).await?;
    if ctx.db.active_consent(owner, name).await?.is_none() {
        return Err(WorkerError::ConsentRequired(name.into()).into());
    }
    let provider = reelsmith_stock::configured(
        offer.source,
        reelsmith_providers::Secret::new(key.expose().clone()),
        base.as_deref(),
    )
    .map_err(|e| stock(StockError::Provider(e)))?
    .ok_or_else(|| stock(StockError::Io(format!("{name} has no adapter"))))?;
    let transfer = NewTransfer {
        job_id: lease.job_id.clone(),
        revision: lease.revision,
        user_id: owner.clone(),
        provider: name.into(),
        model: "download".into(),
        purpose: "stock_download".into(),
        // Nothing of the owner's goes out: the file's public address is what was asked for.
        sent: json!({ "file": offer.location, "id": offer.id }),
    };
    let transfer_id = ctx.db.log_transfer(&transfer, now_ms()).await?;
    let limits = DownloadLimits {
        max_bytes: config.max_download_mib.saturating_mul(1 << 20),
        max_clip_s: config.max_clip_seconds as f64,
    };
    let got = reelsmith_stock::download(provider.as_ref(), offer, dest, &limits).await;
    let outcome = match &got {
        Ok(_) => "delivered",
        Err(e) => e.code().as_str(),
    };
    ctx.db
        .transfer_answered(&transfer_id, outcome, now_ms())
        .await?;
    Ok(got.map_err(stock)?.bytes)
}
