//! The transactional messages (P-COMM-1: they need no consent). Each is plain text plus a simple
//! HTML part; every interpolated value is HTML-escaped, since some (a user agent) come from
//! whoever made the request.

use crate::message::Message;

/// What every template needs to know about the service sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    /// Shown in subjects and signatures, e.g. "Reelsmith".
    pub product: String,
    /// Where people reach the service, e.g. "https://video.example.org".
    pub public_url: String,
}

/// A security-relevant change to an account, told to its owner by email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityEvent {
    PasswordChanged {
        when: String,
        ip: String,
    },
    NewSignIn {
        when: String,
        ip: String,
        user_agent: String,
    },
    /// Sent to the old address when a change to `new_email` is asked for.
    EmailChangeRequested {
        when: String,
        ip: String,
        new_email: String,
    },
}

pub fn verification_code(to: &str, code: &str, minutes: u32, brand: &Branding) -> Message {
    let product = &brand.product;
    let subject = format!("{code} is your {product} verification code");
    let text = format!(
        "Welcome to {product}.\n\n\
         Your verification code is: {code}\n\n\
         It expires in {minutes} minutes and works once. If you did not sign up at {url}, \
         ignore this message: no account is created without the code.\n\n\
         -- {product}\n",
        url = brand.public_url,
    );
    let html = page(
        brand,
        &format!(
            "<p>Welcome to {product}.</p>\
             <p>Your verification code is:</p>{code_block}\
             <p>It expires in {minutes} minutes and works once. If you did not sign up at {url}, \
             ignore this message: no account is created without the code.</p>",
            product = escape_html(product),
            code_block = code_block(code),
            url = escape_html(&brand.public_url),
        ),
    );
    message(to, subject, text, html)
}

pub fn password_reset_code(to: &str, code: &str, minutes: u32, brand: &Branding) -> Message {
    let product = &brand.product;
    let subject = format!("{code} is your {product} password reset code");
    let text = format!(
        "Someone asked to reset the password of your {product} account.\n\n\
         Your reset code is: {code}\n\n\
         It expires in {minutes} minutes and works once. Resetting signs you out everywhere \
         else. If it was not you, ignore this message: your password stays as it is.\n\n\
         -- {product}\n"
    );
    let html = page(
        brand,
        &format!(
            "<p>Someone asked to reset the password of your {product} account.</p>\
             <p>Your reset code is:</p>{code_block}\
             <p>It expires in {minutes} minutes and works once. Resetting signs you out \
             everywhere else. If it was not you, ignore this message: your password stays as \
             it is.</p>",
            product = escape_html(product),
            code_block = code_block(code),
        ),
    );
    message(to, subject, text, html)
}

pub fn email_change_code(to: &str, code: &str, minutes: u32, brand: &Branding) -> Message {
    let product = &brand.product;
    let subject = format!("{code} is your {product} email change code");
    let text = format!(
        "Someone asked to move a {product} account to this email address.\n\n\
         Your confirmation code is: {code}\n\n\
         It expires in {minutes} minutes and works once. If it was not you, ignore this \
         message: nothing changes without the code.\n\n\
         -- {product}\n"
    );
    let html = page(
        brand,
        &format!(
            "<p>Someone asked to move a {product} account to this email address.</p>\
             <p>Your confirmation code is:</p>{code_block}\
             <p>It expires in {minutes} minutes and works once. If it was not you, ignore this \
             message: nothing changes without the code.</p>",
            product = escape_html(product),
            code_block = code_block(code),
        ),
    );
    message(to, subject, text, html)
}

pub fn security_notice(to: &str, event: &SecurityEvent, brand: &Branding) -> Message {
    let product = &brand.product;
    let (subject, facts) = match event {
        SecurityEvent::PasswordChanged { when, ip } => (
            format!("Your {product} password was changed"),
            vec![
                ("What", "Your password was changed".to_owned()),
                ("When", when.clone()),
                ("From address", ip.clone()),
            ],
        ),
        SecurityEvent::NewSignIn {
            when,
            ip,
            user_agent,
        } => (
            format!("New sign-in to your {product} account"),
            vec![
                ("What", "A new sign-in to your account".to_owned()),
                ("When", when.clone()),
                ("From address", ip.clone()),
                ("Browser or app", user_agent.clone()),
            ],
        ),
        SecurityEvent::EmailChangeRequested {
            when,
            ip,
            new_email,
        } => (
            format!("A change of your {product} email address was requested"),
            vec![
                (
                    "What",
                    "A change of your account's email address was requested; it takes effect \
                     once the code sent to the new address is entered"
                        .to_owned(),
                ),
                ("New address", new_email.clone()),
                ("When", when.clone()),
                ("From address", ip.clone()),
            ],
        ),
    };
    let advice = format!(
        "If this was you, there is nothing to do. If not, reset your password at {} \
         straight away: that signs out every other session.",
        brand.public_url
    );
    let text = format!(
        "{}\n\n{advice}\n\n-- {product}\n",
        facts
            .iter()
            .map(|(label, value)| format!("{label}: {value}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let rows: String = facts
        .iter()
        .map(|(label, value)| {
            format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                escape_html(label),
                escape_html(value)
            )
        })
        .collect();
    let html = page(
        brand,
        &format!("<table>{rows}</table><p>{}</p>", escape_html(&advice)),
    );
    message(to, subject, text, html)
}

/// Confirms an account deletion (P-RET-4): it took effect at once, and everything the account
/// held is purged by `purge_date`. Sent to the address the account had, which is purged too.
pub fn account_deleted(to: &str, when: &str, purge_date: &str, brand: &Branding) -> Message {
    let product = &brand.product;
    let subject = format!("Your {product} account was deleted");
    let body = format!(
        "Your {product} account was deleted on {when}. You can no longer sign in, and every \
         session and API token has ended. Your videos, uploads and everything else the account \
         held will be permanently erased by {purge_date}; copies in backups become unreadable at \
         the same time. If you did not ask for this, contact the operator of {} at once.",
        brand.public_url
    );
    let text = format!("{body}\n\n-- {product}\n");
    let html = page(brand, &format!("<p>{}</p>", escape_html(&body)));
    message(to, subject, text, html)
}

/// Tells the owner that a job ended, when they asked to be told (P-COMM-1: transactional, so no
/// marketing consent is involved). `title` is the start of the script; `url` the job's page.
pub fn job_finished(
    to: &str,
    name: &str,
    title: &str,
    url: &str,
    succeeded: bool,
    brand: &Branding,
) -> Message {
    let product = &brand.product;
    let (subject, outcome) = if succeeded {
        (
            format!("Your {product} video is ready"),
            "is ready to watch and download",
        )
    } else {
        (
            format!("Your {product} video could not be made"),
            "could not be made; the page says why, and any credits it reserved were given back",
        )
    };
    let lines = [
        format!("Hello {name},"),
        format!("your creation \u{201c}{title}\u{201d} {outcome}: {url}"),
        "You get this email because you asked for it on your Account page, where you can turn it off.".to_owned(),
    ];
    paragraphs(to, subject, &lines, brand)
}

/// Tells a user that a policy document changed materially (P-COMM-2): what changed, where to
/// read it, and that it applies to them once they accept it, which they are asked to do in the
/// studio before their next job. A service notice, so it needs no marketing consent.
pub fn policy_update(
    to: &str,
    name: &str,
    document: &str,
    version: &str,
    summary: &str,
    url: &str,
    brand: &Branding,
) -> Message {
    let product = &brand.product;
    let subject = format!("We updated the {product} {document}");
    let lines = [
        format!("Hello {name},"),
        format!("we published version {version} of the {document}. What changed: {summary}"),
        format!("Read it at {url}. It applies to you once you accept it: the studio asks you to, before your next video. Until then nothing new is made with your data."),
    ];
    paragraphs(to, subject, &lines, brand)
}

/// A breach notice (P-COMM-3): the operator's own text, with `{name}` and `{product}` filled in.
/// Sent to each affected user whatever their email choices: it is a legal duty, not marketing.
pub fn breach_notice(
    to: &str,
    name: &str,
    subject: &str,
    template: &str,
    brand: &Branding,
) -> Message {
    let body = template
        .replace("{name}", name)
        .replace("{product}", &brand.product);
    let text = format!("{}\n\n-- {}\n", body.trim_end(), brand.product);
    let html = page(
        brand,
        &body
            .split("\n\n")
            .map(|p| format!("<p>{}</p>", escape_html(p.trim()).replace('\n', "<br>")))
            .collect::<String>(),
    );
    message(to, subject.to_owned(), text, html)
}

/// Product news (P-COMM-1): sent only to people who opted in, and always with a way out. The
/// footer links to `unsubscribe_url`, which works without signing in, and the `List-Unsubscribe`
/// headers let mail clients offer one-click unsubscribing (RFC 2369, RFC 8058).
pub fn product_news(
    to: &str,
    name: &str,
    subject: &str,
    body: &str,
    unsubscribe_url: &str,
    brand: &Branding,
) -> Message {
    let body = body
        .replace("{name}", name)
        .replace("{product}", &brand.product);
    let footer = format!(
        "You get this because you asked for product news from {}. Unsubscribe (no sign-in needed): {unsubscribe_url}",
        brand.product
    );
    let text = format!("{}\n\n-- \n{footer}\n", body.trim_end());
    let html = page(
        brand,
        &format!(
            "{}<p style=\"color:#666;font-size:small\">You get this because you asked for product news from {}. \
             <a href=\"{url}\">Unsubscribe</a> (no sign-in needed).</p>",
            body.split("\n\n")
                .map(|p| format!("<p>{}</p>", escape_html(p.trim())))
                .collect::<String>(),
            escape_html(&brand.product),
            url = escape_html(unsubscribe_url),
        ),
    );
    let mut msg = message(to, subject.to_owned(), text, html);
    msg.headers = vec![
        ("List-Unsubscribe".into(), format!("<{unsubscribe_url}>")),
        (
            "List-Unsubscribe-Post".into(),
            "List-Unsubscribe=One-Click".into(),
        ),
    ];
    msg
}

/// A message of plain paragraphs, each HTML-escaped in the HTML part, signed with the product.
fn paragraphs(to: &str, subject: String, lines: &[String], brand: &Branding) -> Message {
    let text = format!("{}\n\n-- {}\n", lines.join("\n\n"), brand.product);
    let html = page(
        brand,
        &lines
            .iter()
            .map(|l| format!("<p>{}</p>", escape_html(l)))
            .collect::<String>(),
    );
    message(to, subject, text, html)
}

fn message(to: &str, subject: String, text: String, html: String) -> Message {
    Message {
        to: to.to_owned(),
        subject,
        text_body: text,
        html_body: Some(html),
        headers: Vec::new(),
    }
}

fn code_block(code: &str) -> String {
    format!(
        "<p style=\"font-size:28px;font-weight:bold;letter-spacing:4px;font-family:monospace\">{}</p>",
        escape_html(code)
    )
}

fn page(brand: &Branding, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{product}</title></head>\
         <body style=\"font-family:sans-serif;max-width:560px;margin:auto\">{body}\
         <p style=\"color:#666\">&mdash; {product}</p></body></html>",
        product = escape_html(&brand.product),
    )
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
