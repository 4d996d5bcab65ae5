//! The embedded transport: every message becomes an `.eml` file in the outbox folder. An operator
//! (or a test) reads mail with any mail client or a text editor, with no mail server to run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lettre::message::Mailbox;

use crate::error::MailError;
use crate::message::{parse_mailbox, Message};
use crate::Mailer;

pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl OutboxMailer {
    pub fn new(dir: impl Into<PathBuf>, from: &str) -> Result<OutboxMailer, MailError> {
        Ok(OutboxMailer {
            dir: dir.into(),
            from: parse_mailbox(from)?,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Orders files written within the same microsecond by this process.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// `<microseconds since the epoch, 17 digits>-<sequence>-<random>.eml`: names sort by time of
/// writing, and never collide between processes sharing the folder.
fn file_stem() -> Result<String, MailError> {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed) % 1_000_000;
    let mut random = [0u8; 4];
    getrandom::fill(&mut random).map_err(|e| MailError::Random(e.to_string()))?;
    Ok(format!(
        "{micros:017}-{sequence:06}-{:08x}",
        u32::from_be_bytes(random)
    ))
}

fn io_error(path: &Path, source: std::io::Error) -> MailError {
    MailError::Outbox {
        path: path.display().to_string(),
        source,
    }
}

#[async_trait::async_trait]
impl Mailer for OutboxMailer {
    /// Writes under a hidden temporary name and renames, so a reader never sees half a message.
    async fn send(&self, msg: &Message) -> Result<(), MailError> {
        let bytes = msg.to_rfc5322(&self.from)?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| io_error(&self.dir, e))?;
        let stem = file_stem()?;
        let temporary = self.dir.join(format!(".{stem}.tmp"));
        let final_path = self.dir.join(format!("{stem}.eml"));
        let write = async {
            let mut file = tokio::fs::File::create(&temporary).await?;
            tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&temporary, &final_path).await
        };
        if let Err(error) = write.await {
            let _ = tokio::fs::remove_file(&temporary).await;
            return Err(io_error(&final_path, error));
        }
        tracing::info!(path = %final_path.display(), "email written to outbox");
        Ok(())
    }
}
