//! The "your video is ready" email (P-COMM-1): transactional, so it needs no marketing consent,
//! but it is sent only to owners who asked for it on their Account page. It goes out when a job
//! ends, succeeded or failed for good; a retry or a release is not an end.
//!
//! A failure to send is logged and changes nothing about the job: the email is a courtesy, the
//! job page is the record.

use std::sync::Arc;

use reelsmith_mail::{templates, Branding, Mailer};
use reelsmith_store::Db;
use tracing::warn;

use crate::context::JobOutcome;

/// How the worker writes to people: the transport and what the emails say about the service.
pub struct JobMail {
    pub mailer: Arc<dyn Mailer>,
    pub branding: Branding,
}

/// The longest script excerpt an email names the creation by, in characters.
const TITLE_CHARS: usize = 60;

/// Tell the job's owner that it ended, if it did and they asked to be told.
pub(crate) async fn tell_owner(db: &Db, mail: &JobMail, outcome: &JobOutcome) {
    let (job_id, succeeded) = match outcome {
        JobOutcome::Succeeded { job_id, .. } => (job_id, true),
        JobOutcome::Failed { job_id, .. } => (job_id, false),
        _ => return,
    };
    if let Err(err) = send(db, mail, job_id, succeeded).await {
        warn!(job_id = %job_id, error = %err, "could not send the job-finished email");
    }
}

/// Either a database or a mail error; the caller only logs it.
type SendResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

async fn send(db: &Db, mail: &JobMail, job_id: &str, succeeded: bool) -> SendResult {
    let Some(job) = db.job_by_id(job_id).await? else {
        return Ok(());
    };
    let Some(owner) = db.user_by_id(&job.owner_id).await? else {
        return Ok(());
    };
    if !owner.notify_job_finished || owner.is_deleted() {
        return Ok(());
    }
    let url = format!("{}/creations/{job_id}", mail.branding.public_url);
    let message = templates::job_finished(
        &owner.email,
        &owner.display_name,
        &title_of(&job.params),
        &url,
        succeeded,
        &mail.branding,
    );
    mail.mailer.send(&message).await?;
    Ok(())
}

/// The start of the script, on one line, cut at a word boundary.
fn title_of(params: &serde_json::Value) -> String {
    let script = params["script"].as_str().unwrap_or_default();
    let words: Vec<&str> = script.split_whitespace().collect();
    let mut title = String::new();
    for word in words {
        if title.chars().count() + word.chars().count() + 1 > TITLE_CHARS {
            title.push('…');
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(word);
    }
    title
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn titles_are_the_start_of_the_script_on_one_line() {
        assert_eq!(
            title_of(&json!({ "script": "A quiet\nharbour." })),
            "A quiet harbour."
        );
        let long = "word ".repeat(40);
        let title = title_of(&json!({ "script": long }));
        assert!(
            title.ends_with('…') && title.chars().count() <= TITLE_CHARS + 1,
            "{title}"
        );
        assert_eq!(title_of(&json!({})), "");
    }
}
