//! Reading mail back out of an outbox folder: tests of the whole platform sign up, then fetch
//! the code that was "emailed".

use std::path::{Path, PathBuf};

use mail_parser::{MessageParser, MimeHeaders};
use reelsmith_core::Code;

/// One message parsed from an `.eml` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub path: PathBuf,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: Option<String>,
    pub has_date: bool,
    pub text_body: String,
    pub html_body: Option<String>,
    /// Content-Type of the top-level part, e.g. `multipart/alternative`.
    pub content_type: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("outbox {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a parseable RFC 5322 message")]
    Unparseable { path: String },
}

impl reelsmith_core::ErrorCode for ReadError {
    fn code(&self) -> Code {
        match self {
            ReadError::Io { .. } => Code::MailOutboxIo,
            ReadError::Unparseable { .. } => Code::MailUnparseable,
        }
    }

    fn is_client_error(&self) -> bool {
        false
    }
}

pub fn parse_eml(path: &Path) -> Result<ReceivedMessage, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_bytes(&bytes, path)
}

pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<ReceivedMessage, ReadError> {
    let unparseable = || ReadError::Unparseable {
        path: path.display().to_string(),
    };
    let parsed = MessageParser::default()
        .parse(bytes)
        .ok_or_else(unparseable)?;
    let addresses = |list: Option<&mail_parser::Address>| -> Vec<String> {
        list.map(|address| {
            address
                .iter()
                .filter_map(|a| a.address().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
    };
    let content_type = parsed
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_owned(),
        })
        .unwrap_or_default();
    Ok(ReceivedMessage {
        path: path.to_path_buf(),
        from: addresses(parsed.from()),
        to: addresses(parsed.to()),
        subject: parsed.subject().unwrap_or_default().to_owned(),
        message_id: parsed.message_id().map(str::to_owned),
        has_date: parsed.date().is_some(),
        text_body: parsed
            .body_text(0)
            .map(|t| t.into_owned())
            .ok_or_else(unparseable)?,
        html_body: parsed.body_html(0).map(|t| t.into_owned()).filter(|_| {
            // mail-parser synthesises HTML from a text-only message; only a real part counts.
            parsed.html_body_count() > 0 && parsed.text_body_count() > 0 && {
                parsed.html_body.first() != parsed.text_body.first()
            }
        }),
        content_type,
    })
}

/// Every `.eml` file in `dir`, oldest first (the file names sort by time of writing).
pub fn list_messages(dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ReadError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// The newest message to `address` (compared case-insensitively), if any.
pub fn latest_message_to(dir: &Path, address: &str) -> Result<Option<ReceivedMessage>, ReadError> {
    for path in list_messages(dir)?.into_iter().rev() {
        let message = parse_eml(&path)?;
        if message.to.iter().any(|to| to.eq_ignore_ascii_case(address)) {
            return Ok(Some(message));
        }
    }
    Ok(None)
}

/// The first run of exactly six digits in `text`, standing alone (not part of a longer number).
pub fn extract_code(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let end = bytes[start..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |n| start + n);
        if end - start == 6 {
            return Some(text[start..end].to_owned());
        }
        start = end;
    }
    None
}

/// The code in the newest message to `address`: what a sign-up test reads after submitting.
pub fn latest_code_for(dir: &Path, address: &str) -> Result<Option<String>, ReadError> {
    Ok(latest_message_to(dir, address)?.and_then(|m| extract_code(&m.text_body)))
}
