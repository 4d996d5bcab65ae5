//! The studio's billing pages (issue 18; P-BILL-2, P-BILL-3): the public price list, rendered
//! here from the live configuration, and the signed-in person's Billing page, a shell that
//! `web/static/billing.js` fills from `/api/v1/me/billing` like every other private page.

use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use reelsmith_config::PlanLimits;

use super::{render, to_signin, Caller, Chrome};
use crate::AppState;

/// An amount in a currency's minor units, as the pages write it: `9.00 USD`.
pub fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!(
        "{sign}{}.{:02} {}",
        c / 100,
        c % 100,
        currency.to_ascii_uppercase()
    )
}

/// A plan's limits in words, as the price list and the create page's quote show them.
pub fn limits_text(l: &PlanLimits) -> Vec<String> {
    let providers = if l.providers.iter().any(|p| p == "*") {
        "every engine and provider".to_owned()
    } else {
        format!("engines: {}", l.providers.join(", "))
    };
    vec![
        format!("up to {}", l.max_resolution),
        format!("videos up to {} s", l.max_video_seconds),
        format!(
            "{} creation{} at once",
            l.concurrent_jobs,
            if l.concurrent_jobs == 1 { "" } else { "s" }
        ),
        providers,
        if l.watermark {
            "videos carry a watermark".to_owned()
        } else {
            "no watermark".to_owned()
        },
    ]
}

pub struct PlanLine {
    pub id: String,
    pub name: String,
    pub price: String,
    /// `per month`, `per year`, `once` or empty for the free plan.
    pub period: &'static str,
    pub credits: String,
    pub limits: Vec<String>,
    pub for_sale: bool,
}

pub struct PackLine {
    pub id: String,
    pub credits: i64,
    pub price: String,
    pub for_sale: bool,
}

#[derive(Template)]
#[template(path = "pricing.html")]
pub struct Pricing {
    pub c: Chrome,
    pub purchases_enabled: bool,
    pub plans: Vec<PlanLine>,
    pub packs: Vec<PackLine>,
}

/// Plans and pricing: public, no sign-in, straight from `[billing]`.
pub async fn pricing(State(state): State<AppState>, caller: Caller) -> Response {
    let list = crate::billing::price_list(&state);
    let plans = list
        .plans
        .iter()
        .map(|p| PlanLine {
            id: p.id.clone(),
            name: p.name.clone(),
            price: if p.kind == "free" {
                "Free".to_owned()
            } else {
                money(p.price_cents, &p.currency)
            },
            period: match (p.kind.as_str(), p.interval.as_deref()) {
                ("subscription", Some("year")) => "per year",
                ("subscription", _) => "per month",
                ("lifetime", _) => "once",
                _ => "",
            },
            credits: if p.kind == "lifetime" {
                format!("{} credits once", p.credits)
            } else {
                format!("{} credits every month", p.credits)
            },
            limits: limits_text(&p.limits),
            for_sale: p.for_sale,
        })
        .collect();
    let packs = pack_lines(&list);
    render(Pricing {
        c: Chrome::new("Plans and pricing", "pricing", &caller),
        purchases_enabled: list.purchases_enabled,
        plans,
        packs,
    })
}

fn pack_lines(list: &crate::billing::PriceList) -> Vec<PackLine> {
    list.packs
        .iter()
        .map(|p| PackLine {
            id: p.id.clone(),
            credits: p.credits,
            price: money(p.price_cents, &p.currency),
            for_sale: p.for_sale,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "billing.html")]
pub struct Billing {
    pub c: Chrome,
    pub purchases_enabled: bool,
    pub packs: Vec<PackLine>,
}

/// The signed-in person's plan, balance, ledger, purchases and invoices.
pub async fn billing(State(state): State<AppState>, caller: Caller, uri: Uri) -> Response {
    if caller.is_err() {
        return to_signin(&uri);
    }
    let list = crate::billing::price_list(&state);
    render(Billing {
        c: Chrome::new("Billing", "billing", &caller),
        purchases_enabled: list.purchases_enabled,
        packs: pack_lines(&list),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_minor_units() {
        assert_eq!(money(900, "usd"), "9.00 USD");
        assert_eq!(money(5, "eur"), "0.05 EUR");
        assert_eq!(money(-1250, "usd"), "-12.50 USD");
    }
}
