//! Paying for it (issue 18; P-BILL-1..4): exact credits under parallel submissions, Stripe's
//! signed webhooks applied once, refunds taking credits back, plan changes, the monthly grant
//! exactly once, plan limits at submission, and the operator's grants. Every case runs on SQLite
//! with a local folder and on PostgreSQL with S3 (`moto_server`), started by the test itself.

#[allow(unused_macros, dead_code)]
mod backends;
mod common;
#[path = "../../store/tests/support/mod.rs"]
mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use reelsmith_billing::stripe::sign;
use reelsmith_config::{Config, PlanLimits, Processor, Secret};
use reelsmith_store::{now_ms, Checkout, Role};
use serde_json::{json, Value};

const WHSEC: &str = "whsec_test_SECRET_5b2e";
const FAL_SPEC_MODEL: &str = "fal-ai/kling-video/v2.1/master/text-to-video";

fn configure(c: &mut Config) {
    c.rate_limits.job_submission.count = 1000;
    c.providers.fal.key = Some(Secret::new("fal-key-SECRET".to_owned()));
    c.credits.signup_grant = 0;
    let b = &mut c.billing;
    b.processor = Processor::Stripe;
    b.stripe.secret_key = Some(Secret::new("sk_test_SECRET_91a".to_owned()));
    b.stripe.webhook_secret = Some(Secret::new(WHSEC.to_owned()));
    // Unreachable on purpose: these cases never call Stripe's API.
    b.stripe.api_base = "http://127.0.0.1:9".into();
    b.plans[0].limits = PlanLimits {
        max_resolution: "720p".into(),
        max_video_seconds: 120,
        concurrent_jobs: 50,
        providers: vec!["*".into()],
        watermark: true,
    };
    for (plan, price) in [
        ("pro-monthly", "price_pro_m"),
        ("pro-yearly", "price_pro_y"),
        ("lifetime", "price_life"),
    ] {
        let p = b.plans.iter_mut().find(|p| p.id == plan).unwrap();
        p.stripe_price = Some(price.into());
    }
    b.plans
        .iter_mut()
        .find(|p| p.id == "pro-yearly")
        .unwrap()
        .credits = 1200;
    b.packs[0].stripe_price = Some("price_pack".into());
    b.payment_records_years = 9;
}

// Base64 after `whsec_`, as Creem issues them (Standard Webhooks keys decode it).
const CREEM_WHSEC: &str = "whsec_Y3JlZW0tdGVzdC1zZWNyZXQtNzdkMQ==";

/// The same server selling through Creem.
fn configure_creem(c: &mut Config) {
    configure(c);
    let b = &mut c.billing;
    b.processor = Processor::Creem;
    b.creem.api_key = Some(Secret::new("creem_test_SECRET_k1".to_owned()));
    b.creem.webhook_secret = Some(Secret::new(CREEM_WHSEC.to_owned()));
    // Unreachable on purpose: these cases never call Creem's API.
    b.creem.api_base = "http://127.0.0.1:9".into();
    b.packs[0].creem_product = Some("prod_pack".into());
}

/// A Free plan that allows three creations at once.
fn configure_three_at_once(c: &mut Config) {
    configure(c);
    c.billing.plans[0].limits.concurrent_jobs = 3;
}

macro_rules! both_with {
    ($sqlite:ident, $pg:ident, $configure:path; $($case:ident),* $(,)?) => {
        mod $sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::app_with($configure).await).await;
                }
            )*
        }
        mod $pg {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::backends::postgres_s3_with($configure).await).await;
                }
            )*
        }
    };
}

both_with!(sqlite_creem, postgres_creem, super::configure_creem;
    p_bill_3_creem_purchase_replayed_and_reordered_credits_once_and_a_refund_takes_it_back,
    p_bill_3_creem_bad_signatures_malformed_and_unknown_events_credit_nothing,
);

both_with!(sqlite_three_at_once, postgres_three_at_once, super::configure_three_at_once;
    p_bill_2_concurrent_jobs_limit_holds_under_twenty_parallel_submissions,
);

macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod sqlite_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::app_with(super::configure).await).await;
                }
            )*
        }
        mod postgres_s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::backends::postgres_s3_with(super::configure).await).await;
                }
            )*
        }
    };
}

both!(
    p_bill_4_fifty_parallel_submissions_against_a_balance_for_ten_start_exactly_ten,
    p_bill_3_stripe_pack_purchase_credits_once_and_a_refund_takes_the_credits_back,
    p_bill_3_bad_signatures_unknown_events_and_deleted_buyers_credit_nothing,
    p_bill_2_subscription_upgrade_downgrade_cancel_and_lifetime_replacing_it,
    p_bill_2_monthly_grant_once_per_user_and_month_with_parallel_rounds,
    p_bill_2_plan_limits_refuse_at_submission_and_show_beside_the_quote,
    operator_grants_and_refunds_are_admin_only_audited_and_idempotent,
    p_bill_1_a_chargeback_after_spending_is_owed_never_a_negative_balance,
    p_bill_3_refund_before_its_payment_is_deferred_then_applied_once,
    p_bill_3_unpaid_checkouts_expire_and_a_processor_failure_leaves_none_open,
    p_ret_4_payments_outlive_the_account_detached_then_are_purged_and_the_privacy_page_says_when,
    p_bill_3_invoices_are_in_the_users_export,
);

async fn user(t: &TestApp, email: &str, name: &str) -> (Auth, String) {
    let auth = Auth::Cookie(t.signed_in_user(email, name).await);
    let id = t.state.db.user_by_email(email).await.unwrap().unwrap().id;
    (auth, id)
}

async fn balance(t: &TestApp, auth: &Auth) -> i64 {
    let r = t.get("/api/v1/me/credits", auth).await;
    assert_eq!(r.status, StatusCode::OK);
    r.json()["balance"].as_i64().unwrap()
}

async fn owed(t: &TestApp, auth: &Auth) -> i64 {
    let r = t.get("/api/v1/me/credits", auth).await;
    assert_eq!(r.status, StatusCode::OK);
    r.json()["owed"].as_i64().unwrap()
}

/// With the processor down once, the checkout button's request is refused with 503 (nothing left
/// open); the next one opens a hosted checkout for the 500-credit pack, whose URL is returned.
async fn pack_checkout_after_an_outage(
    t: &TestApp,
    http: &reqwest::Client,
    fake_base: &str,
    auth: &Auth,
) -> String {
    http.post(format!("{fake_base}/__fake/mode"))
        .json(&json!({ "mode": "unavailable", "count": 1 }))
        .send()
        .await
        .unwrap();
    let ask = || {
        t.json(
            Method::POST,
            "/api/v1/me/billing/checkout",
            auth,
            json!({ "item": "pack-500" }),
        )
    };
    ask().await.assert_problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "billing.processor_unavailable",
    );
    let r = ask().await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["url"].as_str().unwrap().to_owned()
}

async fn ledger_len(t: &TestApp, auth: &Auth) -> usize {
    t.get("/api/v1/me/credits?limit=1000", auth).await.json()["ledger"]
        .as_array()
        .unwrap()
        .len()
}

async fn checkout(t: &TestApp, user_id: &str, kind: &str, item: &str) -> String {
    let id = reelsmith_store::new_id();
    let now = now_ms();
    t.state
        .db
        .create_checkout(&Checkout {
            id: id.clone(),
            user_id: Some(user_id.to_owned()),
            processor: "stripe".into(),
            item_kind: kind.into(),
            item: item.into(),
            session_id: None,
            status: "open".into(),
            created_at: now,
            expires_at: now + 3_600_000,
        })
        .await
        .unwrap();
    id
}

fn event(id: &str, kind: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "object": "event", "type": kind, "api_version": "2024-06-20",
        "created": now_ms() / 1000, "livemode": false, "data": { "object": object },
    }))
    .unwrap()
}

async fn post_signed(t: &TestApp, body: &[u8], signature: Option<String>) -> Reply {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/billing/webhooks/stripe")
        .header("content-type", "application/json");
    if let Some(sig) = signature {
        req = req.header("stripe-signature", sig);
    }
    t.send(req.body(Body::from(body.to_vec())).unwrap()).await
}

async fn deliver(t: &TestApp, body: &[u8]) -> String {
    let r = post_signed(t, body, Some(sign(WHSEC, now_ms() / 1000, body))).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["outcome"].as_str().unwrap().to_owned()
}

fn session(checkout: &str, mode: &str, amount: i64, pi: Option<&str>, sub: Option<&str>) -> Value {
    json!({
        "id": format!("cs_test_{checkout}"), "object": "checkout.session", "mode": mode,
        "client_reference_id": checkout, "payment_status": "paid", "status": "complete",
        "amount_total": amount, "currency": "usd", "total_details": { "amount_tax": 150 },
        "payment_intent": pi, "subscription": sub, "customer": "cus_1",
        "metadata": { "checkout_id": checkout },
    })
}

async fn p_bill_4_fifty_parallel_submissions_against_a_balance_for_ten_start_exactly_ten(
    t: TestApp,
) {
    let (auth, id) = user(&t, "many@example.org", "many").await;
    let r = t
        .send(
            t.request(Method::PUT, "/api/v1/me/consents/fal", &auth)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let spec = json!({ "script": "A short first scene here.", "provider": "fal", "model": FAL_SPEC_MODEL });
    let cost = t
        .json(Method::POST, "/api/v1/jobs/quote", &auth, spec.clone())
        .await
        .json()["credits"]
        .as_i64()
        .unwrap();
    assert!(cost > 0);
    t.state
        .db
        .add_credits(
            &id,
            reelsmith_store::CreditKind::Grant,
            cost * 10,
            "test",
            now_ms(),
        )
        .await
        .unwrap();
    let replies = futures::future::join_all(
        (0..50).map(|_| t.json(Method::POST, "/api/v1/jobs", &auth, spec.clone())),
    )
    .await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    for r in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        r.assert_problem(StatusCode::PAYMENT_REQUIRED, "credits.insufficient");
    }
    assert_eq!(created, 10);
    assert_eq!(balance(&t, &auth).await, 0);
    let jobs = t.get("/api/v1/jobs?limit=100", &auth).await.json();
    assert_eq!(jobs.as_array().unwrap().len(), 10);
    // One grant and ten spends: nothing was reserved for a refused submission.
    assert_eq!(ledger_len(&t, &auth).await, 11);
}

async fn p_bill_3_stripe_pack_purchase_credits_once_and_a_refund_takes_the_credits_back(
    t: TestApp,
) {
    let (auth, id) = user(&t, "buyer@example.org", "buyer").await;
    let c = checkout(&t, &id, "pack", "pack-500").await;
    let body = event(
        "evt_1",
        "checkout.session.completed",
        session(&c, "payment", 900, Some("pi_1"), None),
    );
    assert_eq!(deliver(&t, &body).await, "applied");
    assert_eq!(balance(&t, &auth).await, 500);
    // The same event again, and the same session under another event id: credited once.
    assert_eq!(deliver(&t, &body).await, "duplicate");
    let again = event(
        "evt_1b",
        "checkout.session.completed",
        session(&c, "payment", 900, Some("pi_1"), None),
    );
    assert_eq!(deliver(&t, &again).await, "applied");
    assert_eq!(balance(&t, &auth).await, 500);
    assert_eq!(ledger_len(&t, &auth).await, 1);

    let mine = t.get("/api/v1/me/billing", &auth).await.json();
    let payments = mine["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["amount_cents"], 900);
    assert_eq!(payments[0]["tax_cents"], 150);
    assert_eq!(payments[0]["credits"], 500);
    assert_eq!(payments[0]["item"], "pack-500");

    // A partial refund takes back its share, a later full refund the rest; replays change nothing.
    let refund = |eid: &str, cents: i64| {
        event(
            eid,
            "charge.refunded",
            json!({
                "id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount": 900,
                "amount_refunded": cents, "refunded": cents == 900,
            }),
        )
    };
    assert_eq!(deliver(&t, &refund("evt_r1", 450)).await, "applied");
    assert_eq!(balance(&t, &auth).await, 250);
    assert_eq!(deliver(&t, &refund("evt_r1", 450)).await, "duplicate");
    assert_eq!(deliver(&t, &refund("evt_r2", 900)).await, "applied");
    assert_eq!(deliver(&t, &refund("evt_r3", 900)).await, "applied");
    assert_eq!(balance(&t, &auth).await, 0);
    let mine = t.get("/api/v1/me/billing", &auth).await.json();
    assert_eq!(mine["payments"][0]["credits_taken_back"], 500);
    assert_eq!(mine["payments"][0]["refunded_cents"], 900);
}

async fn p_bill_3_bad_signatures_unknown_events_and_deleted_buyers_credit_nothing(t: TestApp) {
    let (auth, id) = user(&t, "wary@example.org", "wary").await;
    let c = checkout(&t, &id, "pack", "pack-500").await;
    let body = event(
        "evt_x",
        "checkout.session.completed",
        session(&c, "payment", 900, Some("pi_x"), None),
    );
    let now = now_ms() / 1000;
    post_signed(&t, &body, None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "billing.signature_missing");
    post_signed(&t, &body, Some(sign("whsec_wrong", now, &body)))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "billing.signature_mismatch");
    post_signed(&t, &body, Some(sign(WHSEC, now - 3600, &body)))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "billing.signature_stale");
    post_signed(&t, &body, Some("v1=abc".into()))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "billing.signature_malformed");
    let garbage = b"{not json".to_vec();
    post_signed(&t, &garbage, Some(sign(WHSEC, now, &garbage)))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "billing.malformed_event");
    assert_eq!(balance(&t, &auth).await, 0);
    // A refused delivery is not remembered: the genuine one still applies afterwards.
    let unknown = event("evt_u", "customer.created", json!({ "id": "cus_9" }));
    assert_eq!(deliver(&t, &unknown).await, "billing.event_ignored");
    let stranger = event(
        "evt_s",
        "checkout.session.completed",
        session("no-such-checkout", "payment", 900, Some("pi_s"), None),
    );
    assert_eq!(deliver(&t, &stranger).await, "billing.unknown_checkout");
    let unpaid = {
        let mut s = session(&c, "payment", 900, Some("pi_x"), None);
        s["payment_status"] = json!("unpaid");
        event("evt_unpaid", "checkout.session.completed", s)
    };
    assert_eq!(deliver(&t, &unpaid).await, "billing.not_paid");
    assert_eq!(balance(&t, &auth).await, 0);

    // A buyer who deleted their account meanwhile gets nothing.
    let (_, gone_id) = user(&t, "gone@example.org", "gone").await;
    let gc = checkout(&t, &gone_id, "pack", "pack-500").await;
    assert!(t
        .state
        .db
        .mark_user_deleted(&gone_id, now_ms())
        .await
        .unwrap());
    let gone = event(
        "evt_g",
        "checkout.session.completed",
        session(&gc, "payment", 900, Some("pi_g"), None),
    );
    assert_eq!(deliver(&t, &gone).await, "billing.account_deleted");
    assert_eq!(t.state.db.credit_balance(&gone_id).await.unwrap(), 0);

    assert_eq!(deliver(&t, &body).await, "applied");
    assert_eq!(balance(&t, &auth).await, 500);
}

async fn plan_of(t: &TestApp, auth: &Auth) -> Value {
    t.get("/api/v1/me/billing", auth).await.json()
}

fn subscription(id: &str, price: &str, status: &str, cancel: bool, period_end: i64) -> Value {
    json!({
        "id": id, "object": "subscription", "status": status, "cancel_at_period_end": cancel,
        "current_period_end": period_end, "customer": "cus_1",
        "items": { "data": [ { "price": { "id": price }, "current_period_end": period_end } ] },
    })
}

async fn p_bill_2_subscription_upgrade_downgrade_cancel_and_lifetime_replacing_it(t: TestApp) {
    let (auth, id) = user(&t, "pro@example.org", "pro").await;
    let c = checkout(&t, &id, "plan", "pro-monthly").await;
    let body = event(
        "evt_s1",
        "checkout.session.completed",
        session(&c, "subscription", 1500, None, Some("sub_1")),
    );
    assert_eq!(deliver(&t, &body).await, "applied");
    let mine = plan_of(&t, &auth).await;
    assert_eq!(mine["plan"]["id"], "pro-monthly");
    assert_eq!(mine["balance"], 1000);

    // The first invoice records the payment and the period; the month's credits are not given twice.
    let period_end = now_ms() / 1000 + 30 * 86_400;
    let invoice = event(
        "evt_i1",
        "invoice.paid",
        json!({
            "id": "in_1", "object": "invoice", "subscription": "sub_1", "customer": "cus_1",
            "amount_paid": 1500, "currency": "usd", "tax": 0, "payment_intent": "pi_in_1",
            "hosted_invoice_url": "https://invoice.example/in_1",
            "lines": { "data": [ { "price": { "id": "price_pro_m" }, "period": { "start": 0, "end": period_end } } ] },
        }),
    );
    assert_eq!(deliver(&t, &invoice).await, "applied");
    let mine = plan_of(&t, &auth).await;
    assert_eq!(mine["balance"], 1000);
    assert!(mine["period_end"].is_string());
    assert_eq!(
        mine["payments"][0]["receipt_url"],
        "https://invoice.example/in_1"
    );

    // Upgrade (more credits a month) at once, with the difference for this month.
    let up = event(
        "evt_u1",
        "customer.subscription.updated",
        subscription("sub_1", "price_pro_y", "active", false, period_end),
    );
    assert_eq!(deliver(&t, &up).await, "applied");
    let mine = plan_of(&t, &auth).await;
    assert_eq!(mine["plan"]["id"], "pro-yearly");
    assert_eq!(mine["balance"], 1200);
    // Downgrade at the period's end.
    let down = event(
        "evt_d1",
        "customer.subscription.updated",
        subscription("sub_1", "price_pro_m", "active", false, period_end),
    );
    assert_eq!(deliver(&t, &down).await, "applied");
    let mine = plan_of(&t, &auth).await;
    assert_eq!(mine["plan"]["id"], "pro-yearly");
    assert_eq!(mine["pending_plan"], "pro-monthly");
    t.state.db.roll_plans(period_end * 1000 + 1).await.unwrap();
    assert_eq!(plan_of(&t, &auth).await["plan"]["id"], "pro-monthly");

    // Cancel: access until the period ends, then the default plan.
    let cancel = event(
        "evt_c1",
        "customer.subscription.updated",
        subscription("sub_1", "price_pro_m", "active", true, period_end + 86_400),
    );
    assert_eq!(deliver(&t, &cancel).await, "applied");
    let mine = plan_of(&t, &auth).await;
    assert_eq!(mine["cancel_at_period_end"], true);
    assert_eq!(mine["plan"]["id"], "pro-monthly");
    t.state
        .db
        .roll_plans((period_end + 86_400) * 1000 + 1)
        .await
        .unwrap();
    assert_eq!(plan_of(&t, &auth).await["plan"]["id"], "free");

    // A new subscription, then Lifetime replaces it; the subscription's end changes nothing after.
    let c2 = checkout(&t, &id, "plan", "pro-monthly").await;
    let s2 = event(
        "evt_s2",
        "checkout.session.completed",
        session(&c2, "subscription", 1500, None, Some("sub_2")),
    );
    assert_eq!(deliver(&t, &s2).await, "applied");
    assert_eq!(plan_of(&t, &auth).await["plan"]["id"], "pro-monthly");
    let before = balance(&t, &auth).await;
    let c3 = checkout(&t, &id, "plan", "lifetime").await;
    let life = event(
        "evt_l1",
        "checkout.session.completed",
        session(&c3, "payment", 29900, Some("pi_life"), None),
    );
    assert_eq!(deliver(&t, &life).await, "applied");
    let mine = plan_of(&t, &auth).await;
    assert_eq!(mine["plan"]["id"], "lifetime");
    assert_eq!(mine["balance"], before + 20000);
    let ended = event(
        "evt_e2",
        "customer.subscription.deleted",
        subscription("sub_2", "price_pro_m", "canceled", false, period_end),
    );
    assert_eq!(deliver(&t, &ended).await, "applied");
    assert_eq!(plan_of(&t, &auth).await["plan"]["id"], "lifetime");
    // Lifetime cannot be bought twice.
    t.json(
        Method::POST,
        "/api/v1/me/billing/checkout",
        &auth,
        json!({ "item": "lifetime" }),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "billing.already_lifetime");
}

async fn p_bill_2_monthly_grant_once_per_user_and_month_with_parallel_rounds(t: TestApp) {
    let (a, _) = user(&t, "m1@example.org", "mone").await;
    let (b, _) = user(&t, "m2@example.org", "mtwo").await;
    let config = t.state.config.billing.clone();
    let now = now_ms();
    // Four workers' rounds at once, and a restart's round after: one grant per user.
    let rounds = futures::future::join_all(
        (0..4).map(|_| reelsmith_billing::schedule::round(&t.state.db, &config, now)),
    )
    .await;
    let granted: i64 = rounds
        .iter()
        .map(|r| r.as_ref().unwrap().credits_granted)
        .sum();
    assert_eq!(granted, 100);
    reelsmith_billing::schedule::round(&t.state.db, &config, now + 1000)
        .await
        .unwrap();
    assert_eq!(balance(&t, &a).await, 50);
    assert_eq!(balance(&t, &b).await, 50);
    // Next month: the next grant.
    let next = now + 32 * 86_400_000;
    reelsmith_billing::schedule::round(&t.state.db, &config, next)
        .await
        .unwrap();
    reelsmith_billing::schedule::round(&t.state.db, &config, next)
        .await
        .unwrap();
    assert_eq!(balance(&t, &a).await, 100);
    assert_eq!(ledger_len(&t, &a).await, 2);
}

async fn p_bill_2_plan_limits_refuse_at_submission_and_show_beside_the_quote(t: TestApp) {
    let (auth, _) = user(&t, "lim@example.org", "lim").await;
    let spec = json!({ "script": "A tiny studio video.", "resolution": "1080p" });
    let q = t
        .json(Method::POST, "/api/v1/jobs/quote", &auth, spec.clone())
        .await;
    assert_eq!(
        q.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&q.body)
    );
    let q = q.json();
    assert_eq!(q["plan"], "Free");
    assert_eq!(q["plan_limits"]["max_resolution"], "720p");
    assert_eq!(q["plan_refusal"], "plan.max_resolution");
    let r = t.json(Method::POST, "/api/v1/jobs", &auth, spec).await;
    r.assert_problem(StatusCode::FORBIDDEN, "plan.max_resolution");
    let detail = r.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("Free") && detail.contains("720p"),
        "{detail}"
    );
    assert_eq!(t.get("/api/v1/jobs", &auth).await.json(), json!([]));
    let ok = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            &auth,
            json!({ "script": "A tiny studio video.", "resolution": "720p" }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    // A revision is a new render: the plan's limits hold for it too (D-lead-11).
    let id = ok.json()["id"].as_str().unwrap().to_owned();
    let revisions = format!("/api/v1/jobs/{id}/revisions");
    t.json(
        Method::POST,
        &revisions,
        &auth,
        json!({ "script": "A tiny studio video.", "resolution": "1080p" }),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "plan.max_resolution");
    let kept = t.get(&revisions, &auth).await.json();
    assert_eq!(kept.as_array().map(Vec::len), Some(1), "{kept}");
    let long = "word ".repeat(400);
    t.json(
        Method::POST,
        "/api/v1/jobs",
        &auth,
        json!({ "script": long, "resolution": "480p" }),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "plan.max_video_seconds");
    // The public price list, with purchases on (Stripe configured) and what is for sale.
    let list = t.get("/api/v1/billing/plans", &Auth::None).await.json();
    assert_eq!(list["purchases_enabled"], true);
    assert_eq!(list["plans"][0]["id"], "free");
    assert_eq!(list["plans"][0]["for_sale"], false);
    assert_eq!(list["packs"][0]["for_sale"], true);
    t.json(
        Method::POST,
        "/api/v1/me/billing/checkout",
        &auth,
        json!({ "item": "free" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "billing.unknown_item");
    t.json(
        Method::POST,
        "/api/v1/me/billing/checkout",
        &auth,
        json!({ "item": "pack-2000" }),
    )
    .await
    .assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "billing.item_not_for_sale",
    );
    // Stripe unreachable: the button says so, and the order is not left open.
    t.json(
        Method::POST,
        "/api/v1/me/billing/checkout",
        &auth,
        json!({ "item": "pack-500" }),
    )
    .await
    .assert_problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "billing.processor_unavailable",
    );
}

async fn operator_grants_and_refunds_are_admin_only_audited_and_idempotent(t: TestApp) {
    let (admin, admin_id) = user(&t, "op@example.org", "oper").await;
    let (someone, someone_id) = user(&t, "cust@example.org", "cust").await;
    let body = json!({ "user": "cust@example.org", "amount": 70, "kind": "grant", "reason": "apology for an outage" });
    t.json(
        Method::POST,
        "/api/v1/admin/credits",
        &someone,
        body.clone(),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "admin.required");
    t.state
        .db
        .set_role(&admin_id, Role::Admin, now_ms())
        .await
        .unwrap();
    let send = |b: Value| {
        let req = t
            .request(Method::POST, "/api/v1/admin/credits", &admin)
            .header("content-type", "application/json")
            .header("idempotency-key", "k-1")
            .body(Body::from(b.to_string()))
            .unwrap();
        t.send(req)
    };
    let r = send(body.clone()).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(send(body.clone()).await.status, StatusCode::OK);
    assert_eq!(balance(&t, &someone).await, 70);
    let kinds = t.audit_kinds("cust@example.org").await;
    assert_eq!(kinds.iter().filter(|k| *k == "credits.grant").count(), 1);
    let bad = json!({ "user": someone_id, "amount": -5, "kind": "grant", "reason": "x" });
    t.json(Method::POST, "/api/v1/admin/credits", &admin, bad)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "credits.invalid_amount");
    let no_reason = json!({ "user": someone_id, "amount": 5, "kind": "refund", "reason": " " });
    t.json(Method::POST, "/api/v1/admin/credits", &admin, no_reason)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "credits.reason_required");
    let refund =
        json!({ "user": someone_id, "amount": 5, "kind": "refund", "reason": "bad render" });
    let r = t
        .json(Method::POST, "/api/v1/admin/credits", &admin, refund)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(balance(&t, &someone).await, 75);
}

/// The local Stripe (tests/fakes/billing/stripe_fake.py), killed on drop.
struct StripeFake {
    child: std::process::Child,
    base: String,
}

impl Drop for StripeFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stripe_fake() -> StripeFake {
    billing_fake("stripe_fake.py")
}

/// A local processor under tests/fakes/billing, started on a free port.
fn billing_fake(name: &str) -> StripeFake {
    use std::io::BufRead;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fakes/billing")
        .join(name);
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().strip_prefix("READY ").unwrap().parse().unwrap();
    StripeFake {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// A purchase end to end over real HTTP: the API starts a Checkout Session at the local Stripe,
/// its hosted page takes the payment, Stripe's signed webhook reaches the server, the credits
/// are on the balance; the invoice lists it. Then a refund made at Stripe takes them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_bill_3_purchase_through_the_hosted_checkout_of_a_local_stripe() {
    let fake = stripe_fake();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    let (base, public) = (fake.base.clone(), server.clone());
    let t = app_with(move |c| {
        configure(c);
        c.billing.stripe.api_base = base;
        c.server.public_url = Some(public);
    })
    .await;
    let app = t.app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    http.post(format!("{}/__fake/config", fake.base))
        .json(&json!({
            "webhook_url": format!("{server}/api/v1/billing/webhooks/stripe"),
            "webhook_secret": WHSEC,
            "prices": { "price_pack": { "unit_amount": 900, "currency": "usd", "recurring": null } },
        }))
        .send()
        .await
        .unwrap();
    let (auth, _) = user(&t, "shop@example.org", "shopper").await;

    // Stripe down: the button says so; then up again.
    let url = pack_checkout_after_an_outage(&t, &http, &fake.base, &auth).await;
    assert!(url.starts_with(&fake.base), "{url}");
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Pay 9.00 USD"), "{page}");
    assert_eq!(balance(&t, &auth).await, 0);
    let paid = http
        .post(&url)
        .form(&[("card", "4242 4242 4242 4242")])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    let back = paid.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&format!("{server}/billing?checkout=")),
        "{back}"
    );
    let events: Value = http
        .get(format!("{}/__fake/events", fake.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events[0]["type"], "checkout.session.completed");
    assert_eq!(events[0]["status"], 200);
    assert_eq!(balance(&t, &auth).await, 500);
    let mine = t.get("/api/v1/me/billing", &auth).await.json();
    assert_eq!(mine["payments"][0]["amount_cents"], 900);
    let pi = serde_json::from_str::<Value>(events[0]["payload"].as_str().unwrap()).unwrap()["data"]
        ["object"]["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    // The hosted page cannot be paid twice.
    assert_eq!(http.post(&url).send().await.unwrap().status(), 410);

    // A refund at Stripe: its charge.refunded webhook takes the credits back.
    let refund = http
        .post(format!("{}/v1/refunds", fake.base))
        .bearer_auth("sk_test_x")
        .form(&[("payment_intent", pi.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refund.status(), 200);
    assert_eq!(balance(&t, &auth).await, 0);
}

// ---- Creem (P-BILL-3): the same guarantees as Stripe ----

fn creem_event(id: &str, kind: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "eventType": kind, "created_at": now_ms(), "object": object,
    }))
    .unwrap()
}

/// A `checkout.completed` as Creem sends it (the shape `tests/fakes/billing/creem_fake.py` makes).
fn creem_checkout(checkout: &str, order: &str, amount: i64, tax: i64) -> Value {
    json!({
        "id": format!("ch_{checkout}"), "object": "checkout", "request_id": checkout,
        "status": "completed", "mode": "test", "metadata": { "checkout_id": checkout },
        "order": {
            "id": order, "object": "order", "customer": "cust_1", "product": "prod_pack",
            "amount": amount, "currency": "EUR", "sub_total": amount - tax, "tax_amount": tax,
            "amount_paid": amount, "status": "paid", "type": "onetime", "transaction": "tran_1",
        },
        "product": { "id": "prod_pack", "object": "product", "price": amount, "currency": "EUR" },
        "customer": { "id": "cust_1", "object": "customer", "email": "buyer@example.org" },
    })
}

fn creem_refund(order: &str, cents: i64) -> Value {
    json!({
        "id": "ref_1", "object": "refund", "status": "succeeded", "refund_amount": cents,
        "refund_currency": "EUR", "transaction": { "id": "tran_1", "order": order },
        "order": { "id": order, "object": "order", "amount_paid": 900 },
    })
}

async fn post_creem(t: &TestApp, body: &[u8], signature: Option<String>) -> Reply {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/billing/webhooks/creem")
        .header("content-type", "application/json");
    if let Some(sig) = signature {
        req = req.header("creem-signature", sig);
    }
    t.send(req.body(Body::from(body.to_vec())).unwrap()).await
}

async fn deliver_creem(t: &TestApp, body: &[u8]) -> Reply {
    post_creem(
        t,
        body,
        Some(reelsmith_billing::hmac_hex(CREEM_WHSEC.as_bytes(), body)),
    )
    .await
}

fn outcome(r: &Reply) -> String {
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["outcome"].as_str().unwrap().to_owned()
}

async fn creem_checkout_row(t: &TestApp, user_id: &str) -> String {
    let id = reelsmith_store::new_id();
    let now = now_ms();
    t.state
        .db
        .create_checkout(&Checkout {
            id: id.clone(),
            user_id: Some(user_id.to_owned()),
            processor: "creem".into(),
            item_kind: "pack".into(),
            item: "pack-500".into(),
            session_id: Some(format!("ch_{id}")),
            status: "open".into(),
            created_at: now,
            expires_at: now + 3_600_000,
        })
        .await
        .unwrap();
    id
}

async fn p_bill_3_creem_purchase_replayed_and_reordered_credits_once_and_a_refund_takes_it_back(
    t: TestApp,
) {
    let (auth, id) = user(&t, "creem@example.org", "creemer").await;
    let c = creem_checkout_row(&t, &id).await;
    // The refund arrives first: deferred (409, not recorded), nothing taken.
    let refund = creem_event(
        "evt_cr_refund",
        "refund.created",
        creem_refund("ord_1", 900),
    );
    deliver_creem(&t, &refund)
        .await
        .assert_problem(StatusCode::CONFLICT, "billing.payment_not_yet_recorded");
    assert_eq!(balance(&t, &auth).await, 0);

    let paid = creem_event(
        "evt_cr_paid",
        "checkout.completed",
        creem_checkout(&c, "ord_1", 900, 143),
    );
    assert_eq!(outcome(&deliver_creem(&t, &paid).await), "applied");
    assert_eq!(balance(&t, &auth).await, 500);
    assert_eq!(outcome(&deliver_creem(&t, &paid).await), "duplicate");
    // The same order under another event id (Creem's dashboard resend makes a new delivery).
    let again = creem_event(
        "evt_cr_paid_2",
        "checkout.completed",
        creem_checkout(&c, "ord_1", 900, 143),
    );
    assert_eq!(outcome(&deliver_creem(&t, &again).await), "applied");
    assert_eq!(balance(&t, &auth).await, 500);
    assert_eq!(ledger_len(&t, &auth).await, 1);
    let mine = t.get("/api/v1/me/billing", &auth).await.json();
    let p = &mine["payments"][0];
    assert_eq!(p["processor"], "creem");
    assert_eq!(p["amount_cents"], 900);
    assert_eq!(p["tax_cents"], 143);
    assert_eq!(p["currency"], "eur");
    assert_eq!(p["credits"], 500);

    // Creem retries the deferred refund: now it applies, once.
    assert_eq!(outcome(&deliver_creem(&t, &refund).await), "applied");
    assert_eq!(balance(&t, &auth).await, 0);
    assert_eq!(outcome(&deliver_creem(&t, &refund).await), "duplicate");
    assert_eq!(balance(&t, &auth).await, 0);
    let mine = t.get("/api/v1/me/billing", &auth).await.json();
    assert_eq!(mine["payments"][0]["credits_taken_back"], 500);
}

async fn p_bill_3_creem_bad_signatures_malformed_and_unknown_events_credit_nothing(t: TestApp) {
    let (auth, id) = user(&t, "creemwary@example.org", "creemwary").await;
    let c = creem_checkout_row(&t, &id).await;
    let body = creem_event(
        "evt_cw",
        "checkout.completed",
        creem_checkout(&c, "ord_w", 900, 0),
    );
    post_creem(&t, &body, None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "billing.signature_missing");
    post_creem(
        &t,
        &body,
        Some(reelsmith_billing::hmac_hex(b"whsec_wrong", &body)),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "billing.signature_mismatch");
    post_creem(&t, &body, Some("t=1,v1=abc".into()))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "billing.signature_malformed");
    // Signed for another body (a replayed signature on an altered event).
    let altered = creem_event(
        "evt_cw",
        "checkout.completed",
        creem_checkout(&c, "ord_w", 1, 0),
    );
    post_creem(
        &t,
        &altered,
        Some(reelsmith_billing::hmac_hex(CREEM_WHSEC.as_bytes(), &body)),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "billing.signature_mismatch");
    deliver_creem(&t, b"{not json")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "billing.malformed_event");
    // The Stripe endpoint is off while Creem sells.
    post_signed(&t, &body, Some(sign(WHSEC, now_ms() / 1000, &body)))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "billing.processor_off");
    assert_eq!(balance(&t, &auth).await, 0);
    let unknown = creem_event("evt_cu", "license.activated", json!({ "id": "lic_1" }));
    assert_eq!(
        outcome(&deliver_creem(&t, &unknown).await),
        "billing.event_ignored"
    );
    assert_eq!(outcome(&deliver_creem(&t, &unknown).await), "duplicate");
    let stranger = creem_event(
        "evt_cs",
        "checkout.completed",
        creem_checkout("no-such-checkout", "ord_s", 900, 0),
    );
    assert_eq!(
        outcome(&deliver_creem(&t, &stranger).await),
        "billing.unknown_checkout"
    );
    assert_eq!(balance(&t, &auth).await, 0);
    // Standard Webhooks signing: a timestamp outside the tolerance is stale, a signature made
    // for another timestamp does not match.
    let standard = |ts: i64, signed_ts: i64, body: &[u8]| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/billing/webhooks/creem")
            .header("content-type", "application/json")
            .header("webhook-id", "msg_cw")
            .header("webhook-timestamp", ts.to_string())
            .header(
                "webhook-signature",
                reelsmith_billing::creem::sign_standard(CREEM_WHSEC, "msg_cw", signed_ts, body),
            )
            .body(Body::from(body.to_vec()))
            .unwrap()
    };
    let now = now_ms() / 1000;
    t.send(standard(now - 3600, now - 3600, &body))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "billing.signature_stale");
    t.send(standard(now, now - 1, &body))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "billing.signature_mismatch");
    assert_eq!(balance(&t, &auth).await, 0);
    // Refused deliveries were not remembered: the genuine one applies.
    assert_eq!(outcome(&t.send(standard(now, now, &body)).await), "applied");
    assert_eq!(balance(&t, &auth).await, 500);
}

// ---- Money is never lost or doubled (P-BILL-1, P-BILL-4) ----

async fn fal_user(t: &TestApp, email: &str, name: &str) -> (Auth, String, Value, i64) {
    let (auth, id) = user(t, email, name).await;
    let r = t
        .send(
            t.request(Method::PUT, "/api/v1/me/consents/fal", &auth)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let spec = json!({ "script": "A short first scene here.", "provider": "fal", "model": FAL_SPEC_MODEL });
    let cost = t
        .json(Method::POST, "/api/v1/jobs/quote", &auth, spec.clone())
        .await
        .json()["credits"]
        .as_i64()
        .unwrap();
    assert!(cost > 0 && cost < 500, "{cost}");
    (auth, id, spec, cost)
}

/// D-billing-1: a chargeback takes back what the payment bought, but never more than the balance
/// holds: the balance stops at zero and the rest is owed, shown with the balance. Paid jobs are
/// refused meanwhile (nothing reserved), free studio jobs still run, and the next credits that
/// arrive (a grant, a job's reserved cost given back) pay what is owed first. The running sum of
/// the ledger is never below zero.
async fn p_bill_1_a_chargeback_after_spending_is_owed_never_a_negative_balance(t: TestApp) {
    let (auth, id, spec, cost) = fal_user(&t, "neg@example.org", "negative").await;
    let c = checkout(&t, &id, "pack", "pack-500").await;
    let paid = event(
        "evt_n1",
        "checkout.session.completed",
        session(&c, "payment", 900, Some("pi_n"), None),
    );
    assert_eq!(deliver(&t, &paid).await, "applied");
    let r = t
        .json(Method::POST, "/api/v1/jobs", &auth, spec.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let job_id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(balance(&t, &auth).await, 500 - cost);
    let chargeback = event(
        "evt_n2",
        "charge.dispute.created",
        json!({ "id": "dp_1", "object": "dispute", "payment_intent": "pi_n", "amount": 900 }),
    );
    assert_eq!(deliver(&t, &chargeback).await, "applied");
    assert_eq!(balance(&t, &auth).await, 0);
    assert_eq!(owed(&t, &auth).await, cost);
    // Paid jobs: refused in parallel, nothing reserved.
    let replies = futures::future::join_all(
        (0..5).map(|_| t.json(Method::POST, "/api/v1/jobs", &auth, spec.clone())),
    )
    .await;
    for r in &replies {
        r.assert_problem(StatusCode::PAYMENT_REQUIRED, "credits.insufficient");
    }
    assert_eq!(balance(&t, &auth).await, 0);
    let quote = t
        .json(Method::POST, "/api/v1/jobs/quote", &auth, spec.clone())
        .await
        .json();
    assert_eq!(quote["affordable"], false);
    // The studio engine costs nothing: it still runs.
    let free = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            &auth,
            json!({ "script": "A tiny studio video.", "resolution": "480p" }),
        )
        .await;
    assert_eq!(free.status, StatusCode::CREATED);
    assert_eq!(balance(&t, &auth).await, 0);
    // A grant pays what is owed first.
    t.state
        .db
        .add_credits(&id, reelsmith_store::CreditKind::Grant, 1, "test", now_ms())
        .await
        .unwrap();
    assert_eq!(balance(&t, &auth).await, 0);
    assert_eq!(owed(&t, &auth).await, cost - 1);
    // So does the reserved cost of a job given back when it is cancelled.
    let cancelled = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{job_id}/cancel"),
            &auth,
            json!({}),
        )
        .await;
    assert!(cancelled.status.is_success(), "{}", cancelled.status);
    assert_eq!(balance(&t, &auth).await, 1);
    assert_eq!(owed(&t, &auth).await, 0);
    t.json(Method::POST, "/api/v1/jobs", &auth, spec)
        .await
        .assert_problem(StatusCode::PAYMENT_REQUIRED, "credits.insufficient");
    // The balance is the ledger's sum, and no prefix of the ledger is below zero.
    let ledger = t.get("/api/v1/me/credits?limit=1000", &auth).await.json()["ledger"]
        .as_array()
        .unwrap()
        .clone();
    let mut running = 0;
    for e in ledger.iter().rev() {
        running += e["amount"].as_i64().unwrap();
        assert!(running >= 0, "the ledger went below zero at {e}");
    }
    assert_eq!(running, 1);
}

/// A `charge.refunded` that overtakes its `checkout.session.completed` is answered 409 and not
/// recorded; Stripe's retry applies it once the payment is known.
async fn p_bill_3_refund_before_its_payment_is_deferred_then_applied_once(t: TestApp) {
    let (auth, id) = user(&t, "order@example.org", "order").await;
    let c = checkout(&t, &id, "pack", "pack-500").await;
    let refund = event(
        "evt_o_refund",
        "charge.refunded",
        json!({ "id": "ch_o", "object": "charge", "payment_intent": "pi_o", "amount": 900,
                "amount_refunded": 900, "refunded": true }),
    );
    post_signed(&t, &refund, Some(sign(WHSEC, now_ms() / 1000, &refund)))
        .await
        .assert_problem(StatusCode::CONFLICT, "billing.payment_not_yet_recorded");
    let paid = event(
        "evt_o_paid",
        "checkout.session.completed",
        session(&c, "payment", 900, Some("pi_o"), None),
    );
    assert_eq!(deliver(&t, &paid).await, "applied");
    assert_eq!(balance(&t, &auth).await, 500);
    assert_eq!(deliver(&t, &refund).await, "applied");
    assert_eq!(deliver(&t, &refund).await, "duplicate");
    assert_eq!(balance(&t, &auth).await, 0);
    // The late retry of the payment event changes nothing.
    assert_eq!(deliver(&t, &paid).await, "duplicate");
    assert_eq!(balance(&t, &auth).await, 0);
}

/// The plan allows three at once; twenty submissions in parallel start exactly three, the rest
/// are refused with the plan's code and nothing is queued for them.
async fn p_bill_2_concurrent_jobs_limit_holds_under_twenty_parallel_submissions(t: TestApp) {
    let (auth, _) = user(&t, "busy@example.org", "busy").await;
    let spec = json!({ "script": "A tiny studio video.", "resolution": "480p" });
    let replies = futures::future::join_all(
        (0..20).map(|_| t.json(Method::POST, "/api/v1/jobs", &auth, spec.clone())),
    )
    .await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    for r in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        r.assert_problem(StatusCode::FORBIDDEN, "plan.concurrent_jobs");
        let detail = r.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("Free") && detail.contains('3'), "{detail}");
    }
    assert_eq!(created, 3);
    let jobs = t.get("/api/v1/jobs?limit=100", &auth).await.json();
    assert_eq!(jobs.as_array().unwrap().len(), 3);
    // Another user is not limited by hers.
    let (other, _) = user(&t, "calm@example.org", "calm").await;
    let r = t.json(Method::POST, "/api/v1/jobs", &other, spec).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

/// An order left unpaid expires after its lifetime (Stripe's session ends then too); one whose
/// checkout the processor refused is closed at once. A payment that still arrives is credited.
async fn p_bill_3_unpaid_checkouts_expire_and_a_processor_failure_leaves_none_open(t: TestApp) {
    let (auth, id) = user(&t, "late@example.org", "late").await;
    // Stripe is unreachable here (127.0.0.1:9): the button's answer, and that order closed.
    t.json(
        Method::POST,
        "/api/v1/me/billing/checkout",
        &auth,
        json!({ "item": "pack-500" }),
    )
    .await
    .assert_problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "billing.processor_unavailable",
    );
    let c = checkout(&t, &id, "pack", "pack-500").await;
    let billing = &t.state.config.billing;
    let now = now_ms();
    let early = reelsmith_billing::schedule::round(&t.state.db, billing, now)
        .await
        .unwrap();
    assert_eq!(early.checkouts_expired, 0);
    assert_eq!(
        t.state.db.checkout(&c).await.unwrap().unwrap().status,
        "open"
    );
    // Past its lifetime (an hour in `checkout`): only the open one expires; the refused one
    // was closed already, so it is not counted again.
    let later = reelsmith_billing::schedule::round(&t.state.db, billing, now + 3_600_001)
        .await
        .unwrap();
    assert_eq!(later.checkouts_expired, 1);
    assert_eq!(
        t.state.db.checkout(&c).await.unwrap().unwrap().status,
        "expired"
    );
    // Money taken after all (a delayed payment method): credited, never lost. (The rounds
    // also gave the Free plan's monthly credits, so the pack is counted from here.)
    let before = balance(&t, &auth).await;
    let paid = event(
        "evt_late",
        "checkout.session.completed",
        session(&c, "payment", 900, Some("pi_late"), None),
    );
    assert_eq!(deliver(&t, &paid).await, "applied");
    assert_eq!(balance(&t, &auth).await, before + 500);
}

/// P-RET-4: after the account's purge its payments stay, detached, for the configured legal
/// period (9 years here), then the billing round deletes them; others' payments are untouched.
async fn p_ret_4_payments_outlive_the_account_detached_then_are_purged_and_the_privacy_page_says_when(
    t: TestApp,
) {
    let db = &t.state.db;
    let (_, gone) = user(&t, "leaving@example.org", "leaving").await;
    let (stay_auth, stay) = user(&t, "staying@example.org", "staying").await;
    for (uid, n) in [(&gone, "g"), (&stay, "s")] {
        let c = checkout(&t, uid, "pack", "pack-500").await;
        let paid = event(
            &format!("evt_r4{n}"),
            "checkout.session.completed",
            session(&c, "payment", 900, Some(&format!("pi_r4{n}")), None),
        );
        assert_eq!(deliver(&t, &paid).await, "applied");
    }
    assert_eq!(db.payments(&gone).await.unwrap().len(), 1);
    assert!(db.mark_user_deleted(&gone, now_ms()).await.unwrap());
    assert!(db.purge_user(&gone).await.unwrap());
    assert!(db.user_by_id(&gone).await.unwrap().is_none());
    // Detached: nobody's any more, but kept.
    assert!(db.payments(&gone).await.unwrap().is_empty());
    let billing = &t.state.config.billing;
    let year_ms: i64 = 365 * 24 * 3_600_000 + 6 * 3_600_000;
    let before = reelsmith_billing::schedule::round(db, billing, now_ms() + 8 * year_ms)
        .await
        .unwrap();
    assert_eq!(before.payments_purged, 0);
    let after =
        reelsmith_billing::schedule::round(db, billing, now_ms() + 9 * year_ms + 86_400_000)
            .await
            .unwrap();
    assert_eq!(after.payments_purged, 1);
    assert_eq!(db.payments(&stay).await.unwrap().len(), 1);
    let mine = t.get("/api/v1/me/billing", &stay_auth).await.json();
    assert_eq!(mine["payments"].as_array().unwrap().len(), 1);
    // The privacy page states the live setting.
    let page = t.get("/privacy", &Auth::None).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains("detached from you") && html.contains("for 9 years after each payment"),
        "{html}"
    );
}

/// Invoices and receipts: the Billing page's data and the account export hold each payment
/// with its amount, tax as reported and receipt link.
async fn p_bill_3_invoices_are_in_the_users_export(t: TestApp) {
    let (auth, id) = user(&t, "receipts@example.org", "receipts").await;
    let c = checkout(&t, &id, "pack", "pack-500").await;
    let s = session(&c, "payment", 900, Some("pi_inv"), None);
    assert_eq!(
        deliver(&t, &event("evt_inv", "checkout.session.completed", s)).await,
        "applied"
    );
    let receipt = "https://pay.stripe.com/receipts/payment/CAcaFwoVYWNjdF9pbnY";
    let charge = event(
        "evt_inv_charge",
        "charge.succeeded",
        json!({ "id": "ch_inv", "object": "charge", "payment_intent": "pi_inv", "amount": 900,
                "currency": "usd", "receipt_url": receipt }),
    );
    assert_eq!(deliver(&t, &charge).await, "applied");
    let mut archive = t.exported_archive(&auth).await;
    let payments = read_json(&mut archive, "payments.json");
    let mine = t.get("/api/v1/me/billing", &auth).await.json();
    assert_eq!(payments.as_array().unwrap().len(), 1);
    let p = &payments[0];
    assert_eq!(p["processor"], "stripe");
    assert_eq!(p["amount_cents"], 900);
    assert_eq!(p["tax_cents"], 150);
    assert_eq!(p["currency"], "usd");
    assert_eq!(p["credits"], 500);
    assert_eq!(p["item"], "pack-500");
    assert_eq!(p["id"], mine["payments"][0]["id"]);
    assert_eq!(p["receipt_url"], receipt);
    assert_eq!(mine["payments"][0]["receipt_url"], receipt);
    let mut readme = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("README.txt").unwrap(), &mut readme)
        .unwrap();
    assert!(readme.contains("payments.json"), "{readme}");
}

/// A purchase through Creem end to end over real HTTP: `POST /v1/checkouts` at the local Creem
/// (tests/fakes/billing/creem_fake.py), its hosted page, its signed `checkout.completed`, the
/// credits; Creem down answers 503; a dashboard resend changes nothing; its refund takes the
/// credits back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_bill_3_purchase_through_the_hosted_checkout_of_a_local_creem() {
    let fake = billing_fake("creem_fake.py");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    let (base, public) = (fake.base.clone(), server.clone());
    let t = app_with(move |c| {
        configure_creem(c);
        c.billing.creem.api_base = base;
        c.server.public_url = Some(public);
    })
    .await;
    let app = t.app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    http.post(format!("{}/__fake/config", fake.base))
        .json(&json!({
            "webhook_url": format!("{server}/api/v1/billing/webhooks/creem"),
            "webhook_secret": CREEM_WHSEC,
            "products": { "prod_pack": { "price": 900, "currency": "EUR", "tax": 144 } },
        }))
        .send()
        .await
        .unwrap();
    let (auth, _) = user(&t, "creemshop@example.org", "creemshop").await;

    let url = pack_checkout_after_an_outage(&t, &http, &fake.base, &auth).await;
    assert!(url.starts_with(&format!("{}/pay/", fake.base)), "{url}");
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Pay 9.00 EUR"), "{page}");
    let paid = http.post(&url).send().await.unwrap();
    assert_eq!(paid.status(), 303);
    let back = paid.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&format!("{server}/billing?checkout=")) && back.contains("&order_id="),
        "{back}"
    );
    let events: Value = http
        .get(format!("{}/__fake/events", fake.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events[0]["type"], "checkout.completed");
    assert_eq!(events[0]["status"], 200);
    assert_eq!(balance(&t, &auth).await, 500);
    let mine = t.get("/api/v1/me/billing", &auth).await.json();
    assert_eq!(mine["payments"][0]["amount_cents"], 900);
    assert_eq!(mine["payments"][0]["tax_cents"], 144);
    let order = serde_json::from_str::<Value>(events[0]["payload"].as_str().unwrap()).unwrap()
        ["object"]["order"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The dashboard's resend of the same event: answered, nothing credited again.
    let event_id = events[0]["id"].as_str().unwrap();
    let resent: Value = http
        .post(format!("{}/__fake/resend/{event_id}", fake.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resent["status"], 200);
    assert_eq!(balance(&t, &auth).await, 500);
    assert_eq!(http.post(&url).send().await.unwrap().status(), 410);

    let refund: Value = http
        .post(format!("{}/__fake/refund/{order}", fake.base))
        .json(&json!({ "amount": 900 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refund["status"], 200, "{refund}");
    assert_eq!(balance(&t, &auth).await, 0);
}
