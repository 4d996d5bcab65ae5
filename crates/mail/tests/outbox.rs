//! The outbox transport writes real RFC 5322 messages (P-ACC-2: codes arrive by email).

use std::path::Path;

use reelsmith_mail::read::{list_messages, parse_eml};
use reelsmith_mail::templates::{self, Branding, SecurityEvent};
use reelsmith_mail::{
    extract_code, latest_code_for, latest_message_to, mailer_from_config, Mailer, Message,
    OutboxMailer,
};

fn brand() -> Branding {
    Branding {
        product: "Reelsmith".into(),
        public_url: "https://video.example.org".into(),
    }
}

const FROM: &str = "Reelsmith <noreply@video.example.org>";

#[tokio::test]
async fn p_acc_2_a_verification_code_is_written_as_a_parseable_eml() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let mailer = OutboxMailer::new(&outbox, FROM).unwrap();
    let msg = templates::verification_code("Ada@Example.org", "042917", 15, &brand());
    mailer.send(&msg).await.unwrap();

    let files = list_messages(&outbox).unwrap();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_str().unwrap();
    assert!(name.ends_with(".eml") && !name.starts_with('.'), "{name}");
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1);

    let received = parse_eml(&files[0]).unwrap();
    assert_eq!(received.from, vec!["noreply@video.example.org"]);
    assert_eq!(received.to, vec!["Ada@Example.org"]);
    assert_eq!(
        received.subject,
        "042917 is your Reelsmith verification code"
    );
    assert!(received.has_date);
    let id = received.message_id.as_deref().unwrap();
    assert!(id.ends_with("@video.example.org"), "{id}");
    assert_eq!(received.content_type, "multipart/alternative");
    assert!(received
        .text_body
        .contains("Your verification code is: 042917"));
    assert!(received.text_body.contains("15 minutes"));
    let html = received.html_body.as_deref().unwrap();
    assert!(html.contains(">042917</p>"), "{html}");

    let raw = std::fs::read_to_string(&files[0]).unwrap();
    for header in [
        "Date: ",
        "Message-ID: ",
        "From: ",
        "To: ",
        "Subject: ",
        "MIME-Version: 1.0",
    ] {
        assert!(raw.contains(header), "{header} missing in\n{raw}");
    }
    assert!(raw.contains("\r\n"), "RFC 5322 lines end in CRLF");

    assert_eq!(
        latest_code_for(&outbox, "ada@example.org")
            .unwrap()
            .as_deref(),
        Some("042917")
    );
}

#[tokio::test]
async fn the_newest_message_to_an_address_wins() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = OutboxMailer::new(dir.path(), FROM).unwrap();
    for code in ["111111", "222222"] {
        mailer
            .send(&templates::verification_code(
                "a@example.org",
                code,
                15,
                &brand(),
            ))
            .await
            .unwrap();
    }
    mailer
        .send(&templates::password_reset_code(
            "b@example.org",
            "333333",
            15,
            &brand(),
        ))
        .await
        .unwrap();
    assert_eq!(
        latest_code_for(dir.path(), "a@example.org")
            .unwrap()
            .as_deref(),
        Some("222222")
    );
    let reset = latest_message_to(dir.path(), "b@example.org")
        .unwrap()
        .unwrap();
    assert!(reset.subject.contains("password reset"));
    assert_eq!(extract_code(&reset.text_body).as_deref(), Some("333333"));
    assert!(latest_message_to(dir.path(), "c@example.org")
        .unwrap()
        .is_none());
    let names: Vec<_> = list_messages(dir.path()).unwrap();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), 3);
}

#[tokio::test]
async fn security_notices_escape_what_the_requester_controls() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = OutboxMailer::new(dir.path(), FROM).unwrap();
    let event = SecurityEvent::NewSignIn {
        when: "2026-05-01 10:00 UTC".into(),
        ip: "203.0.113.9".into(),
        user_agent: "<script>alert(1)</script> Firefox".into(),
    };
    mailer
        .send(&templates::security_notice(
            "a@example.org",
            &event,
            &brand(),
        ))
        .await
        .unwrap();
    let msg = latest_message_to(dir.path(), "a@example.org")
        .unwrap()
        .unwrap();
    assert_eq!(msg.subject, "New sign-in to your Reelsmith account");
    assert!(msg.text_body.contains("203.0.113.9"));
    assert!(msg
        .text_body
        .contains("reset your password at https://video.example.org"));
    let html = msg.html_body.unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");

    let changed = SecurityEvent::PasswordChanged {
        when: "now".into(),
        ip: "::1".into(),
    };
    let notice = templates::security_notice("a@example.org", &changed, &brand());
    assert_eq!(notice.subject, "Your Reelsmith password was changed");
}

#[tokio::test]
async fn extra_headers_are_written_and_unsafe_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = OutboxMailer::new(dir.path(), FROM).unwrap();
    let mut msg = Message {
        to: "a@example.org".into(),
        subject: "Plain".into(),
        text_body: "Only text.".into(),
        html_body: None,
        headers: vec![(
            "List-Unsubscribe".into(),
            "<https://video.example.org/unsubscribe/abc>".into(),
        )],
    };
    mailer.send(&msg).await.unwrap();
    let path = &list_messages(dir.path()).unwrap()[0];
    let raw = std::fs::read_to_string(path).unwrap();
    assert!(raw.contains("List-Unsubscribe: <https://video.example.org/unsubscribe/abc>"));
    let parsed = parse_eml(path).unwrap();
    assert_eq!(parsed.content_type, "text/plain");
    assert_eq!(parsed.text_body.trim_end(), "Only text.");
    assert_eq!(parsed.html_body, None);

    msg.headers = vec![("X-Note".into(), "a\r\nBcc: victim@example.org".into())];
    assert_eq!(
        reelsmith_core::ErrorCode::code(&mailer.send(&msg).await.unwrap_err()),
        "mail.invalid_header"
    );
    msg.headers = vec![("Subject".into(), "override".into())];
    assert!(mailer.send(&msg).await.is_err());
    msg.headers.clear();
    msg.to = "not an address".into();
    let error = mailer.send(&msg).await.unwrap_err();
    assert_eq!(
        reelsmith_core::ErrorCode::code(&error),
        "mail.invalid_address"
    );
    assert_eq!(list_messages(dir.path()).unwrap().len(), 1);
}

#[tokio::test]
async fn the_configured_outbox_is_used_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = reelsmith_config::Config::defaults_for(dir.path());
    let mailer = mailer_from_config(&config.email).unwrap();
    mailer
        .send(&templates::verification_code(
            "x@example.org",
            "123456",
            15,
            &brand(),
        ))
        .await
        .unwrap();
    assert!(Path::new(&config.email.outbox_dir).is_dir());
    assert_eq!(
        latest_code_for(&config.email.outbox_dir, "x@example.org")
            .unwrap()
            .as_deref(),
        Some("123456")
    );
}

#[test]
fn codes_are_found_only_as_standalone_six_digit_runs() {
    assert_eq!(extract_code("code: 123456."), Some("123456".into()));
    assert_eq!(
        extract_code("order 1234567 then 654321"),
        Some("654321".into())
    );
    assert_eq!(extract_code("12345 and 1234567"), None);
    assert_eq!(extract_code(""), None);
}
