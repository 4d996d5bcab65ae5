//! A transactional message and its RFC 5322 form. Both transports send the very same bytes, built
//! by lettre: Date, Message-ID, From, To, Subject, and a multipart/alternative body when there is
//! an HTML part.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use crate::error::MailError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: Option<String>,
    /// Extra headers such as `List-Unsubscribe`, as (name, value).
    pub headers: Vec<(String, String)>,
}

/// Headers the builder sets itself; an extra header may not override them.
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

pub fn parse_mailbox(address: &str) -> Result<Mailbox, MailError> {
    address
        .parse::<Mailbox>()
        .map_err(|_| MailError::InvalidAddress(address.to_owned()))
}

impl Message {
    /// The message as lettre's typed message, from `from`.
    pub fn build(&self, from: &Mailbox) -> Result<lettre::Message, MailError> {
        let mut builder = lettre::Message::builder()
            .from(from.clone())
            .to(parse_mailbox(&self.to)?)
            .subject(self.subject.clone())
            .date_now()
            .message_id(Some(message_id(from)?));
        for (name, value) in &self.headers {
            builder = builder.raw_header(extra_header(name, value)?);
        }
        let built = match &self.html_body {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                self.text_body.clone(),
                html.clone(),
            )),
            None => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(self.text_body.clone()),
            ),
        };
        built.map_err(|e| MailError::Build(e.to_string()))
    }

    /// The RFC 5322 bytes, as an `.eml` file holds them.
    pub fn to_rfc5322(&self, from: &Mailbox) -> Result<Vec<u8>, MailError> {
        Ok(self.build(from)?.formatted())
    }
}

fn extra_header(name: &str, value: &str) -> Result<HeaderValue, MailError> {
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(MailError::InvalidHeader {
            name: name.to_owned(),
            reason: "set by the mailer itself".into(),
        });
    }
    // A line break in a value would start a new header: refused, not folded.
    if value.contains(['\r', '\n']) {
        return Err(MailError::InvalidHeader {
            name: name.to_owned(),
            reason: "contains a line break".into(),
        });
    }
    let header_name =
        HeaderName::new_from_ascii(name.to_owned()).map_err(|_| MailError::InvalidHeader {
            name: name.to_owned(),
            reason: "not a valid header name".into(),
        })?;
    Ok(HeaderValue::new(header_name, value.to_owned()))
}

/// `<random@sender-domain>`: unique without revealing this machine's host name.
fn message_id(from: &Mailbox) -> Result<String, MailError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| MailError::Random(e.to_string()))?;
    let unique: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("<{unique}@{}>", from.email.domain()))
}
