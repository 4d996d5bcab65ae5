//! The Creem client against tests/fakes/billing/creem_fake.py, and the fake against Creem's
//! official client (npm `creem`, tests/fakes/billing/creem-client/check_creem.mjs; Creem has no
//! official Python client). Fails, never skips, when Node or the package is missing
//! (scripts/setup --test).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use reelsmith_billing::creem::{CreemClient, CreemError};
use serde_json::{json, Value};

fn fakes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fakes/billing")
}

/// The fake, killed on drop.
struct Fake {
    child: Child,
    base: String,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Fake {
    let mut child = Command::new("python3")
        .arg(fakes().join("creem_fake.py"))
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
fn p_bill_3_the_creem_fake_is_faithful_to_the_official_client() {
    let dir = fakes().join("creem-client");
    assert!(
        dir.join("node_modules/creem").is_dir(),
        "Creem's official client is missing: run scripts/setup --test"
    );
    let fake = start();
    let out = Command::new("node")
        .arg("check_creem.mjs")
        .arg(&fake.base)
        .current_dir(&dir)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "check_creem.mjs failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_bill_3_creem_checkouts_through_the_rest_api() {
    let fake = start();
    control(
        &fake,
        "/__fake/config",
        json!({ "products": { "prod_pack": { "price": 900, "currency": "EUR" } } }),
    )
    .await;
    let client = CreemClient::new(&fake.base, "creem_test_key");
    let c = client
        .create_checkout(
            "prod_pack",
            "chk_1",
            Some("a@example.org"),
            "http://127.0.0.1:1/billing?checkout=chk_1",
        )
        .await
        .unwrap();
    assert!(c.checkout_url.starts_with(&format!("{}/pay/", fake.base)));
    let paid = control(&fake, &format!("/__fake/pay/{}", c.id), json!({})).await;
    assert_eq!(paid["request_id"], "chk_1");
    assert_eq!(paid["metadata"]["checkout_id"], "chk_1");
    assert_eq!(paid["order"]["amount_paid"], 900);

    let unknown = client
        .create_checkout("prod_none", "chk_2", None, "http://127.0.0.1:1/")
        .await;
    assert!(
        matches!(unknown, Err(CreemError::Refused { status: 404 })),
        "{unknown:?}"
    );
    let stranger = CreemClient::new(&fake.base, "not-a-key");
    assert!(matches!(
        stranger
            .create_checkout("prod_pack", "chk_3", None, "http://127.0.0.1:1/")
            .await,
        Err(CreemError::Refused { status: 403 })
    ));
    control(
        &fake,
        "/__fake/mode",
        json!({ "mode": "unavailable", "count": 1 }),
    )
    .await;
    assert!(matches!(
        client
            .create_checkout("prod_pack", "chk_4", None, "http://127.0.0.1:1/")
            .await,
        Err(CreemError::Unavailable(_))
    ));
}
