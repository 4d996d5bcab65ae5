//! What can go wrong while building, writing, sending or reading a message.

use reelsmith_core::{Code, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("not a valid email address: {0}")]
    InvalidAddress(String),
    #[error("invalid header {name}: {reason}")]
    InvalidHeader { name: String, reason: String },
    #[error("the message could not be built: {0}")]
    Build(String),
    #[error("outbox {path}: {source}")]
    Outbox {
        path: String,
        source: std::io::Error,
    },
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
    #[error("email.smtp.ca_file {path} cannot be read: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("SMTP is configured without email.smtp.host")]
    SmtpHostMissing,
    #[error("random number generator failed: {0}")]
    Random(String),
}

impl ErrorCode for MailError {
    fn code(&self) -> Code {
        match self {
            MailError::InvalidAddress(_) => Code::MailInvalidAddress,
            MailError::InvalidHeader { .. } => Code::MailInvalidHeader,
            MailError::Build(_) => Code::MailBuild,
            MailError::Outbox { .. } => Code::MailOutboxIo,
            MailError::Smtp(_) => Code::MailSmtp,
            MailError::SmtpHostMissing | MailError::CaFile { .. } => Code::MailSmtpNotConfigured,
            MailError::Random(_) => Code::MailRandomUnavailable,
        }
    }

    fn is_client_error(&self) -> bool {
        matches!(self, MailError::InvalidAddress(_))
    }
}
