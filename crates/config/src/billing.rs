//! Paying for it (P-BILL-2, P-BILL-3): the plans and credit packs the operator sells, their limits,
//! and the payment processor. With `processor = "none"` (the default) nothing is sold: credits come
//! from plan grants and operator grants only. Switching payments on takes the processor and its two
//! secrets (`docs/billing.md`).

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Processor {
    None,
    Stripe,
    Creem,
}

impl Processor {
    pub fn as_str(self) -> &'static str {
        match self {
            Processor::None => "none",
            Processor::Stripe => "stripe",
            Processor::Creem => "creem",
        }
    }
}

/// How a plan is paid for and how often its credits are granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// No payment; its credits are granted every calendar month.
    Free,
    /// A subscription billed every `interval`; its credits are granted every calendar month
    /// while it is paid.
    Subscription,
    /// One payment; its credits are granted once.
    Lifetime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Month,
    Year,
}

/// What a plan allows; checked where jobs are accepted (`plan.limit_exceeded`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanLimits {
    /// `480p`, `720p` or `1080p`.
    pub max_resolution: String,
    /// Longest video, in seconds of narration as the planner estimates it.
    pub max_video_seconds: u32,
    /// Jobs queued or running at once.
    pub concurrent_jobs: u32,
    /// Engines and providers a job may use (`studio`, `fal`, ...); `["*"]` allows all.
    pub providers: Vec<String>,
    /// Whether videos carry the service's watermark.
    pub watermark: bool,
}

impl Default for PlanLimits {
    fn default() -> Self {
        PlanLimits {
            max_resolution: "1080p".into(),
            max_video_seconds: 1800,
            concurrent_jobs: 100,
            providers: vec!["*".into()],
            watermark: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Stable id (`free`, `pro-monthly`), kept in the database: never rename a plan in use.
    pub id: String,
    pub name: String,
    pub kind: PlanKind,
    /// Subscriptions only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// Price in the currency's smallest unit (cents); 0 for Free.
    #[serde(default)]
    pub price_cents: i64,
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Credits per month (Free, subscriptions) or once (Lifetime).
    pub credits: i64,
    /// Stripe's Price id (`price_...`) that sells this plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_price: Option<String>,
    /// Creem's product id (`prod_...`) that sells this plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creem_product: Option<String>,
    #[serde(default)]
    pub limits: PlanLimits,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditPack {
    pub id: String,
    pub credits: i64,
    pub price_cents: i64,
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creem_product: Option<String>,
}

fn default_currency() -> String {
    "usd".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeConfig {
    /// The secret API key (`sk_live_...` / `sk_test_...`).
    pub secret_key: Option<Secret<String>>,
    /// The webhook endpoint's signing secret (`whsec_...`).
    pub webhook_secret: Option<Secret<String>>,
    /// Stripe's API; a local fake in tests.
    pub api_base: String,
    /// Oldest `Stripe-Signature` timestamp accepted, in seconds from now.
    pub tolerance_seconds: u64,
}

impl Default for StripeConfig {
    fn default() -> Self {
        StripeConfig {
            secret_key: None,
            webhook_secret: None,
            api_base: "https://api.stripe.com".into(),
            tolerance_seconds: 300,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CreemConfig {
    /// The API key (`creem_...`), sent as `x-api-key`.
    pub api_key: Option<Secret<String>>,
    /// The webhook signing secret that keys `creem-signature`.
    pub webhook_secret: Option<Secret<String>>,
    /// `https://api.creem.io`, or `https://test-api.creem.io` for test mode.
    pub api_base: String,
    /// Oldest `webhook-timestamp` accepted (Standard Webhooks signing), in seconds from now.
    pub tolerance_seconds: u64,
}

impl Default for CreemConfig {
    fn default() -> Self {
        CreemConfig {
            api_key: None,
            webhook_secret: None,
            api_base: "https://api.creem.io".into(),
            tolerance_seconds: 300,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingConfig {
    pub processor: Processor,
    /// The plan of everyone without a paid one.
    pub default_plan: String,
    /// Years payment records are kept after the account is deleted, detached from the person
    /// (P-RET-4), before they are purged.
    pub payment_records_years: u32,
    /// Minutes an unfinished checkout stays open before it is expired (Stripe's own sessions
    /// last 24 hours).
    pub checkout_minutes: u32,
    pub plans: Vec<Plan>,
    pub packs: Vec<CreditPack>,
    pub stripe: StripeConfig,
    pub creem: CreemConfig,
}

impl Default for BillingConfig {
    fn default() -> Self {
        let plan = |id: &str, name: &str, kind, interval, price, credits, limits| Plan {
            id: id.into(),
            name: name.into(),
            kind,
            interval,
            price_cents: price,
            currency: default_currency(),
            credits,
            stripe_price: None,
            creem_product: None,
            limits,
        };
        // Generous on purpose: an installation that never looks at billing behaves as before.
        // An operator who sells plans narrows Free (docs/billing.md shows how).
        let free_limits = PlanLimits {
            max_resolution: "1080p".into(),
            max_video_seconds: 1800,
            concurrent_jobs: 50,
            providers: vec!["*".into()],
            watermark: true,
        };
        let pack = |id: &str, credits, price| CreditPack {
            id: id.into(),
            credits,
            price_cents: price,
            currency: default_currency(),
            stripe_price: None,
            creem_product: None,
        };
        BillingConfig {
            processor: Processor::None,
            default_plan: "free".into(),
            payment_records_years: 7,
            checkout_minutes: 24 * 60,
            plans: vec![
                plan("free", "Free", PlanKind::Free, None, 0, 50, free_limits),
                plan(
                    "pro-monthly",
                    "Pro (monthly)",
                    PlanKind::Subscription,
                    Some(Interval::Month),
                    1500,
                    1000,
                    PlanLimits::default(),
                ),
                plan(
                    "pro-yearly",
                    "Pro (yearly)",
                    PlanKind::Subscription,
                    Some(Interval::Year),
                    15000,
                    1000,
                    PlanLimits::default(),
                ),
                plan(
                    "lifetime",
                    "Lifetime",
                    PlanKind::Lifetime,
                    None,
                    29900,
                    20000,
                    PlanLimits::default(),
                ),
            ],
            packs: vec![pack("pack-500", 500, 900), pack("pack-2000", 2000, 2900)],
            stripe: StripeConfig::default(),
            creem: CreemConfig::default(),
        }
    }
}

impl BillingConfig {
    pub fn plan(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    pub fn pack(&self, id: &str) -> Option<&CreditPack> {
        self.packs.iter().find(|p| p.id == id)
    }

    /// The plan of users without a paid one; validation makes sure it exists.
    #[expect(
        clippy::expect_used,
        reason = "validation refuses a configuration without a plan"
    )]
    pub fn default_plan(&self) -> &Plan {
        self.plan(&self.default_plan)
            .or(self.plans.first())
            .expect("validation requires at least one plan")
    }

    /// True when purchases are possible: a processor with its API key and webhook secret.
    pub fn purchases_enabled(&self) -> bool {
        match self.processor {
            Processor::None => false,
            Processor::Stripe => {
                self.stripe.secret_key.is_some() && self.stripe.webhook_secret.is_some()
            }
            Processor::Creem => self.creem.api_key.is_some() && self.creem.webhook_secret.is_some(),
        }
    }
}

impl BillingConfig {
    /// What is wrong with this section, as (key, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |key: &str, message: String| out.push((format!("billing.{key}"), message));
        if self.plan(&self.default_plan).is_none() {
            bad(
                "default_plan",
                format!("names no plan in billing.plans: `{}`", self.default_plan),
            );
        } else if self.default_plan().kind != PlanKind::Free {
            bad("default_plan", "must be a plan of kind `free`".into());
        }
        let mut ids: Vec<&str> = self.plans.iter().map(|p| p.id.as_str()).collect();
        ids.extend(self.packs.iter().map(|p| p.id.as_str()));
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != ids.len() {
            bad("plans", "plan and pack ids must be unique".into());
        }
        for plan in &self.plans {
            if plan.credits < 0 || plan.price_cents < 0 {
                bad(
                    "plans",
                    format!("`{}`: credits and price must not be negative", plan.id),
                );
            }
            if (plan.kind == PlanKind::Subscription) != plan.interval.is_some() {
                bad(
                    "plans",
                    format!(
                        "`{}`: an interval is given for subscriptions, and only them",
                        plan.id
                    ),
                );
            }
            if !["480p", "720p", "1080p"].contains(&plan.limits.max_resolution.as_str()) {
                bad(
                    "plans",
                    format!("`{}`: max_resolution must be 480p, 720p or 1080p", plan.id),
                );
            }
        }
        for pack in &self.packs {
            if pack.credits <= 0 || pack.price_cents <= 0 {
                bad(
                    "packs",
                    format!("`{}`: credits and price must be positive", pack.id),
                );
            }
        }
        if self.payment_records_years == 0 {
            bad("payment_records_years", "must be at least 1".into());
        }
        if self.checkout_minutes == 0 {
            bad("checkout_minutes", "must be at least 1".into());
        }
        match self.processor {
            Processor::Stripe => {
                if self.stripe.secret_key.is_none() || self.stripe.webhook_secret.is_none() {
                    bad(
                        "stripe",
                        "processor = \"stripe\" needs stripe.secret_key and stripe.webhook_secret"
                            .into(),
                    );
                }
            }
            Processor::Creem => {
                if self.creem.api_key.is_none() || self.creem.webhook_secret.is_none() {
                    bad(
                        "creem",
                        "processor = \"creem\" needs creem.api_key and creem.webhook_secret".into(),
                    );
                }
            }
            Processor::None => {}
        }
        out
    }
}
