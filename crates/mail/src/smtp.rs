//! The SMTP transport (lettre over tokio and rustls).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use reelsmith_config::{SmtpConfig, SmtpTls};

use crate::error::MailError;
use crate::message::{parse_mailbox, Message};
use crate::Mailer;

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Bound on a whole delivery. lettre's own timeout covers connecting, not a server that
    /// stops answering mid-conversation, which would otherwise hold the sender forever.
    deadline: Duration,
}

impl SmtpMailer {
    pub fn new(config: &SmtpConfig, from: &str) -> Result<SmtpMailer, MailError> {
        let host = config
            .host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(MailError::SmtpHostMissing)?;
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_parameters(host, config)?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters(host, config)?),
        };
        let timeout = Duration::from_secs(config.timeout_seconds.max(1));
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.effective_port())
            .tls(tls)
            .timeout(Some(timeout));
        if let (Some(username), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose().clone(),
            ));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from: parse_mailbox(from)?,
            deadline: timeout,
        })
    }
}

fn tls_parameters(host: &str, config: &SmtpConfig) -> Result<TlsParameters, MailError> {
    let smtp_error = |e: lettre::transport::smtp::Error| MailError::Smtp(e.to_string());
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(ca_file) = &config.ca_file {
        let pem = std::fs::read(ca_file).map_err(|source| MailError::CaFile {
            path: ca_file.display().to_string(),
            source,
        })?;
        builder = builder.add_root_certificate(Certificate::from_pem(&pem).map_err(smtp_error)?);
    }
    builder.build_rustls().map_err(smtp_error)
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, msg: &Message) -> Result<(), MailError> {
        let message = msg.build(&self.from)?;
        tokio::time::timeout(self.deadline, self.transport.send(message))
            .await
            .map_err(|_| {
                MailError::Smtp(format!("no answer within {} s", self.deadline.as_secs()))
            })?
            .map_err(|e| MailError::Smtp(e.to_string()))?;
        tracing::info!("email handed to the SMTP server");
        Ok(())
    }
}
