//! The SMTP transport against a real SMTP server: aiosmtpd, started on a free loopback port by
//! the test (tests/fakes/smtp/smtp_sink.py). Fails, never skips, when aiosmtpd is missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reelsmith_config::{Config, EmailTransport, Secret, SmtpTls};
use reelsmith_mail::read::parse_eml;
use reelsmith_mail::templates::{self, Branding};
use reelsmith_mail::{mailer_from_config, Mailer, Message, SmtpMailer};
use reelsmith_media::process::{Output, Process, Tool};

const PYTHON: Tool = Tool {
    program: "python3",
    package: "python3",
};

struct Sink {
    port: u16,
    dir: PathBuf,
    _process: Process,
}

fn start_sink(dir: &Path, credentials: Option<(&str, &str)>) -> Sink {
    start_sink_with(dir, credentials, false)
}

fn start_sink_with(dir: &Path, credentials: Option<(&str, &str)>, starttls: bool) -> Sink {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fakes/smtp/smtp_sink.py");
    let mut args = vec![script.display().to_string(), dir.display().to_string()];
    if let Some((user, password)) = credentials {
        args.extend([
            "--user".into(),
            user.into(),
            "--password".into(),
            password.into(),
        ]);
    }
    if starttls {
        args.push("--starttls".into());
    }
    let mut process = Process::spawn(PYTHON, &args, true, Output::Piped, Duration::from_secs(300))
        .expect("python3 starts");
    let mut line = String::new();
    BufReader::new(process.take_stdout().unwrap())
        .read_line(&mut line)
        .unwrap();
    let Some(port) = line.trim().strip_prefix("READY ") else {
        // The sink exited before listening; its standard error says why (aiosmtpd missing).
        let error = process
            .wait()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        panic!("the SMTP test server did not start: {error}");
    };
    Sink {
        port: port.parse().unwrap(),
        dir: dir.to_path_buf(),
        _process: process,
    }
}

impl Sink {
    /// Waits for the n-th message (1-based) the server accepted.
    fn received(&self, n: usize) -> (PathBuf, serde_json::Value) {
        let eml = self.dir.join(format!("{n}.eml"));
        let meta = self.dir.join(format!("{n}.json"));
        let give_up = Instant::now() + Duration::from_secs(60);
        while !(eml.exists() && meta.exists()) {
            assert!(Instant::now() < give_up, "message {n} never arrived");
            std::thread::sleep(Duration::from_millis(20));
        }
        let meta = serde_json::from_slice(&std::fs::read(meta).unwrap()).unwrap();
        (eml, meta)
    }
}

fn smtp_config(port: u16) -> Config {
    let mut config = Config::default();
    config.email.transport = EmailTransport::Smtp;
    config.email.from = "Reelsmith <noreply@video.example.org>".into();
    config.email.smtp.host = Some("127.0.0.1".into());
    config.email.smtp.port = Some(port);
    config.email.smtp.tls = SmtpTls::None;
    config
}

fn brand() -> Branding {
    Branding {
        product: "Reelsmith".into(),
        public_url: "https://video.example.org".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn p_acc_2_a_code_sent_over_smtp_arrives_with_its_headers_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let sink = start_sink(dir.path(), None);
    let config = smtp_config(sink.port);
    assert!(config.validate().is_empty(), "{:?}", config.validate());
    let mailer = mailer_from_config(&config.email).unwrap();
    mailer
        .send(&templates::verification_code(
            "ada@example.org",
            "804113",
            15,
            &brand(),
        ))
        .await
        .unwrap();

    let (eml, envelope) = sink.received(1);
    assert_eq!(envelope["mail_from"], "noreply@video.example.org");
    assert_eq!(envelope["rcpt_tos"], serde_json::json!(["ada@example.org"]));
    let msg = parse_eml(&eml).unwrap();
    assert_eq!(msg.to, vec!["ada@example.org"]);
    assert_eq!(msg.from, vec!["noreply@video.example.org"]);
    assert_eq!(msg.subject, "804113 is your Reelsmith verification code");
    assert!(msg.has_date);
    assert!(msg.message_id.is_some());
    assert_eq!(msg.content_type, "multipart/alternative");
    assert!(msg.text_body.contains("Your verification code is: 804113"));
    assert!(msg.html_body.unwrap().contains("804113"));
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_authenticates_with_the_configured_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let sink = start_sink(dir.path(), Some(("mailer", "pa55-w0rd")));
    let mut config = smtp_config(sink.port);
    config.email.smtp.username = Some("mailer".into());
    config.email.smtp.password = Some(Secret::from("pa55-w0rd"));
    let mailer = SmtpMailer::new(&config.email.smtp, &config.email.from).unwrap();
    let msg = Message {
        to: "b@example.org".into(),
        subject: "Authenticated".into(),
        text_body: "Hello over SMTP.".into(),
        html_body: None,
        headers: vec![("List-Unsubscribe".into(), "<mailto:u@example.org>".into())],
    };
    mailer.send(&msg).await.unwrap();
    let (eml, envelope) = sink.received(1);
    assert_eq!(envelope["auth_user"], "mailer");
    let raw = String::from_utf8(std::fs::read(&eml).unwrap()).unwrap();
    assert!(
        raw.contains("List-Unsubscribe: <mailto:u@example.org>"),
        "{raw}"
    );
    assert_eq!(
        parse_eml(&eml).unwrap().text_body.trim_end(),
        "Hello over SMTP."
    );

    // A wrong password is refused by the server and reported, not swallowed.
    config.email.smtp.password = Some(Secret::from("wrong-password"));
    let wrong = SmtpMailer::new(&config.email.smtp, &config.email.from).unwrap();
    let error = wrong.send(&msg).await.unwrap_err();
    assert_eq!(reelsmith_core::ErrorCode::code(&error), "mail.smtp");
    assert!(!error.to_string().contains("wrong-password"));
    assert!(!dir.path().join("2.eml").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_is_an_error() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = smtp_config(port);
    let mailer = mailer_from_config(&config.email).unwrap();
    let error = mailer
        .send(&templates::verification_code(
            "a@example.org",
            "000000",
            15,
            &brand(),
        ))
        .await
        .unwrap_err();
    assert_eq!(reelsmith_core::ErrorCode::code(&error), "mail.smtp");
}

#[test]
fn smtp_without_a_host_is_refused() {
    let mut config = Config::default();
    config.email.transport = EmailTransport::Smtp;
    let error = mailer_from_config(&config.email).err().unwrap();
    assert_eq!(
        reelsmith_core::ErrorCode::code(&error),
        "mail.smtp_not_configured"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_times_out() {
    // Accepts the connection, then says nothing: the greeting never comes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_secs(5));
        drop(stream);
    });
    let mut config = smtp_config(port);
    config.email.smtp.timeout_seconds = 1;
    let mailer = mailer_from_config(&config.email).unwrap();
    let error = mailer
        .send(&templates::verification_code(
            "a@example.org",
            "000000",
            15,
            &brand(),
        ))
        .await
        .unwrap_err();
    assert_eq!(reelsmith_core::ErrorCode::code(&error), "mail.smtp");
    holder.join().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_upgrades_the_connection_and_checks_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let sink = start_sink_with(dir.path(), Some(("mailer", "tls-pass")), true);
    let mut config = smtp_config(sink.port);
    config.email.smtp.host = Some("localhost".into());
    config.email.smtp.tls = SmtpTls::Starttls;
    config.email.smtp.username = Some("mailer".into());
    config.email.smtp.password = Some(Secret::from("tls-pass"));
    let msg = templates::password_reset_code("c@example.org", "551200", 15, &brand());

    // Without trusting the test certificate the handshake is refused: nothing is sent.
    assert!(
        dir.path().join("cert.pem").is_file(),
        "the server offers STARTTLS"
    );
    let untrusted = mailer_from_config(&config.email).unwrap();
    let error = untrusted.send(&msg).await.unwrap_err();
    assert_eq!(reelsmith_core::ErrorCode::code(&error), "mail.smtp");
    assert!(error.to_string().contains("certificate"), "{error}");
    assert!(!dir.path().join("1.eml").exists());

    config.email.smtp.ca_file = Some(dir.path().join("cert.pem"));
    assert!(config.validate().is_empty(), "{:?}", config.validate());
    let trusted = mailer_from_config(&config.email).unwrap();
    trusted.send(&msg).await.unwrap();
    let (eml, envelope) = sink.received(1);
    assert_eq!(envelope["auth_user"], "mailer");
    let received = parse_eml(&eml).unwrap();
    assert_eq!(
        received.subject,
        "551200 is your Reelsmith password reset code"
    );
}
