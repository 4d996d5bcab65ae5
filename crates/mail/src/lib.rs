//! Transactional email. A [`Message`] is turned into RFC 5322 bytes by lettre and handed to a
//! [`Mailer`]: the embedded [`OutboxMailer`] writes `.eml` files into the data folder, the
//! [`SmtpMailer`] sends through a mail server. Which one is configuration (`email.transport`).

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod error;
pub mod message;
pub mod outbox;
pub mod read;
pub mod smtp;
pub mod templates;

use reelsmith_config::{EmailConfig, EmailTransport};

pub use error::MailError;
pub use message::Message;
pub use outbox::OutboxMailer;
pub use read::{extract_code, latest_code_for, latest_message_to, ReceivedMessage};
pub use smtp::SmtpMailer;
pub use templates::{Branding, SecurityEvent};

#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, msg: &Message) -> Result<(), MailError>;
}

/// The transport `email.transport` names, set up from the rest of the section.
pub fn mailer_from_config(config: &EmailConfig) -> Result<Box<dyn Mailer>, MailError> {
    Ok(match config.transport {
        EmailTransport::Outbox => Box::new(OutboxMailer::new(&config.outbox_dir, &config.from)?),
        EmailTransport::Smtp => Box::new(SmtpMailer::new(&config.smtp, &config.from)?),
    })
}
