//! The Stripe client against tests/fakes/billing/stripe_fake.py, and the fake against Stripe's
//! official Python client (check_stripe.py): what the adapter is tested on is what Stripe speaks.
//! Fails, never skips, when python3 or the `stripe` package is missing (scripts/setup --test).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use reelsmith_billing::stripe::{CheckoutRequest, Mode, StripeClient, StripeError};
use serde_json::{json, Value};

fn fakes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fakes/billing")
}

/// The fake, killed on drop.
pub struct Fake {
    child: Child,
    pub base: String,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start() -> Fake {
    let mut child = Command::new("python3")
        .arg(fakes().join("stripe_fake.py"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .strip_prefix("READY ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("the fake did not start: {line:?}"));
    Fake {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn control(fake: &Fake, path: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{}{path}", fake.base))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[test]
fn p_bill_3_the_stripe_fake_is_faithful_to_the_official_client() {
    let fake = start();
    let out = Command::new("python3")
        .arg(fakes().join("check_stripe.py"))
        .arg(&fake.base)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "check_stripe.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn p_bill_3_checkout_sessions_and_portal_through_the_rest_api() {
    let fake = start();
    control(
        &fake,
        "/__fake/config",
        json!({ "prices": {
            "price_pack": { "unit_amount": 900, "currency": "usd", "recurring": null },
            "price_pro": { "unit_amount": 1500, "currency": "usd", "recurring": { "interval": "month" } },
        }}),
    )
    .await;
    let client = StripeClient::new(&fake.base, "sk_test_SECRET");
    let now = reelsmith_store::now_ms() / 1000;
    let req = CheckoutRequest {
        mode: Mode::Payment,
        price: "price_pack",
        reference: "chk_a",
        customer_email: Some("a@example.org"),
        customer: None,
        success_url: "http://studio.test/billing?checkout=chk_a",
        cancel_url: "http://studio.test/billing",
        expires_at: Some(now + 3600),
    };
    let session = client.create_checkout(&req).await.unwrap();
    assert!(session.id.starts_with("cs_test_"));
    assert!(session.url.starts_with(&fake.base));
    // What Stripe stored is what was sent, form-encoded with brackets.
    let stored: Value = reqwest::Client::new()
        .get(format!("{}/v1/checkout/sessions/{}", fake.base, session.id))
        .bearer_auth("sk_test_SECRET")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["client_reference_id"], "chk_a");
    assert_eq!(stored["metadata"]["checkout_id"], "chk_a");
    assert_eq!(stored["customer_email"], "a@example.org");
    assert_eq!(stored["amount_total"], 900);

    let sub = CheckoutRequest {
        mode: Mode::Subscription,
        price: "price_pro",
        ..req.clone()
    };
    assert!(client.create_checkout(&sub).await.is_ok());
    // Stripe's own refusals come back as such, with its message.
    let wrong = CheckoutRequest {
        price: "price_nope",
        ..req.clone()
    };
    match client.create_checkout(&wrong).await {
        Err(StripeError::Refused { status, message }) => {
            assert_eq!(status, 400);
            assert!(message.contains("price_nope"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    control(
        &fake,
        "/__fake/mode",
        json!({ "mode": "unavailable", "count": 1 }),
    )
    .await;
    assert!(matches!(
        client.create_checkout(&req).await,
        Err(StripeError::Unavailable(_))
    ));
    let portal = client
        .portal("cus_1", "http://studio.test/billing")
        .await
        .unwrap();
    assert!(portal.starts_with(&fake.base));
    let bad_key = StripeClient::new(&fake.base, "");
    assert!(matches!(
        bad_key.create_checkout(&req).await,
        Err(StripeError::Refused { status: 401, .. })
    ));
    // Nothing is listening: unavailable, and the key is in no error.
    let down = StripeClient::new("http://127.0.0.1:9", "sk_test_SECRET");
    let err = down.create_checkout(&req).await.unwrap_err();
    assert!(matches!(err, StripeError::Unavailable(_)));
    assert!(!err.to_string().contains("sk_test_SECRET"));
}
