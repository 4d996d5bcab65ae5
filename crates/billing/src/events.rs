//! What each processor event changes (P-BILL-1, P-BILL-3): an event is turned into one
//! [`BillingChange`] that the store writes with the event's id in one transaction. Lookups happen
//! here, before that transaction; they read rows that the change itself does not alter in a way
//! that matters (a checkout's buyer and item never change).

use reelsmith_config::{BillingConfig, Plan, PlanKind};
use reelsmith_core::Code;
use reelsmith_store::{
    BillingChange, CreditKind, CreditOnce, Db, NewPayment, PlanChange, StoreError, UserPlan,
};
use serde_json::Value;

use crate::month_key;

/// An event turned into its effect, or the reason it has none.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    Apply {
        change: Box<BillingChange>,
        /// A subscription to end at the processor after the change is written (Lifetime
        /// replaced it).
        cancel_subscription: Option<String>,
    },
    /// Nothing to do; recorded with this stable code so a replay is recognised.
    Ignore(&'static str),
    /// Not yet: the event depends on one that has not arrived (a refund before its payment).
    /// Not recorded, so the processor's retry applies it once the other has.
    Later(Code),
}

/// A refund of `reference` with its effect, or `Later` when its payment is not recorded yet.
async fn refund(
    db: &Db,
    processor: &str,
    reference: String,
    cents: i64,
) -> Result<Resolution, StoreError> {
    if !db.payment_known(processor, &reference).await? {
        return Ok(Resolution::Later(Code::BillingPaymentNotYetRecorded));
    }
    apply(BillingChange {
        refund: Some((processor.into(), reference, cents)),
        ..BillingChange::default()
    })
}

fn ignore(code: &'static str) -> Result<Resolution, StoreError> {
    Ok(Resolution::Ignore(code))
}

fn apply(change: BillingChange) -> Result<Resolution, StoreError> {
    Ok(Resolution::Apply {
        change: Box::new(change),
        cancel_subscription: None,
    })
}

fn s(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// A live user's id for a checkout; `Err(code)` when the checkout is unknown or its buyer's
/// account is deleted (nothing is credited to a deleted account).
async fn buyer(
    db: &Db,
    checkout_id: Option<&str>,
) -> Result<Result<(String, reelsmith_store::Checkout), &'static str>, StoreError> {
    let Some(id) = checkout_id else {
        return Ok(Err("billing.unknown_checkout"));
    };
    let Some(checkout) = db.checkout(id).await? else {
        return Ok(Err("billing.unknown_checkout"));
    };
    let Some(user_id) = checkout.user_id.clone() else {
        return Ok(Err("billing.account_deleted"));
    };
    match db.user_by_id(&user_id).await? {
        Some(u) if !u.is_deleted() => Ok(Ok((user_id, checkout))),
        _ => Ok(Err("billing.account_deleted")),
    }
}

/// Which plan a processor's price or product sells.
fn plan_by_price<'c>(config: &'c BillingConfig, processor: &str, price: &str) -> Option<&'c Plan> {
    config.plans.iter().find(|p| match processor {
        "stripe" => p.stripe_price.as_deref() == Some(price),
        _ => p.creem_product.as_deref() == Some(price),
    })
}

fn plan_credit_grant(
    user_id: &str,
    plan: &Plan,
    now: i64,
) -> Option<(String, String, i64, String)> {
    crate::limits::monthly_credits(plan)
        .map(|c| (user_id.to_owned(), plan.id.clone(), c, month_key(now)))
}

/// What a completed checkout (of either processor) changes. `payment` is what the processor
/// reported; its credits are filled in here.
// Both processors' handlers call this with what their events carry, each piece optional in its
// own way; a struct of them would be built only to be taken apart here.
#[allow(clippy::too_many_arguments)]
async fn completed_checkout(
    db: &Db,
    config: &BillingConfig,
    processor: &str,
    checkout_id: Option<&str>,
    mut payment: NewPayment,
    customer_id: Option<String>,
    subscription_id: Option<String>,
    now: i64,
) -> Result<Resolution, StoreError> {
    let (user_id, checkout) = match buyer(db, checkout_id).await? {
        Ok(found) => found,
        Err(code) => return ignore(code),
    };
    let mut change = BillingChange {
        checkout_completed: Some(checkout.id.clone()),
        ..BillingChange::default()
    };
    payment.user_id = user_id.clone();
    payment.item = checkout.item.clone();
    let mut cancel_subscription = None;
    let purchase_key = format!("purchase:{processor}:{}", payment.external_id);
    if checkout.item_kind == "pack" {
        let Some(pack) = config.pack(&checkout.item) else {
            return ignore("billing.unknown_item");
        };
        payment.credits = pack.credits;
        payment.description = format!("{} credits", pack.credits);
        change.credits.push(CreditOnce {
            user_id: user_id.clone(),
            kind: CreditKind::Purchase,
            amount: pack.credits,
            note: format!("credit pack {}", pack.id),
            key: purchase_key,
        });
        change.payment = Some(payment);
        return apply(change);
    }
    let Some(plan) = config.plan(&checkout.item) else {
        return ignore("billing.unknown_item");
    };
    match plan.kind {
        PlanKind::Lifetime => {
            payment.credits = plan.credits;
            payment.description = plan.name.clone();
            change.credits.push(CreditOnce {
                user_id: user_id.clone(),
                kind: CreditKind::Purchase,
                amount: plan.credits,
                note: format!("plan {}", plan.id),
                key: purchase_key,
            });
            // Lifetime replaces a subscription: ours ends now, and the processor's is cancelled
            // so it is not billed again.
            if let Some(row) = db.user_plan(&user_id).await? {
                cancel_subscription = row.subscription_id;
            }
            change.plan = Some(PlanChange::Set {
                user_id,
                plan: plan.id.clone(),
                processor: processor.to_owned(),
                customer_id,
                subscription_id: None,
                period_end: None,
            });
            change.payment = Some(payment);
        }
        PlanKind::Subscription => {
            // The first invoice (invoice.paid) records the payment; the plan starts now.
            change.plan = Some(PlanChange::Set {
                user_id: user_id.clone(),
                plan: plan.id.clone(),
                processor: processor.to_owned(),
                customer_id,
                subscription_id,
                period_end: None,
            });
            change.plan_grant = plan_credit_grant(&user_id, plan, now);
        }
        PlanKind::Free => return ignore("billing.unknown_item"),
    }
    Ok(Resolution::Apply {
        change: Box::new(change),
        cancel_subscription,
    })
}

/// The user and plan of a subscription: by our row, else by the checkout id its metadata carries
/// (an invoice may arrive before checkout.session.completed).
async fn subscriber(
    db: &Db,
    processor: &str,
    subscription_id: &str,
    checkout_id: Option<&str>,
) -> Result<Option<(String, Option<UserPlan>, Option<String>)>, StoreError> {
    if let Some(row) = db.plan_by_subscription(processor, subscription_id).await? {
        return Ok(Some((row.user_id.clone(), Some(row), None)));
    }
    match buyer(db, checkout_id).await? {
        Ok((user, checkout)) => Ok(Some((user, None, Some(checkout.item)))),
        Err(_) => Ok(None),
    }
}

/// A Stripe event's effect.
pub async fn stripe(
    db: &Db,
    config: &BillingConfig,
    kind: &str,
    o: &Value,
    now: i64,
) -> Result<Resolution, StoreError> {
    const P: &str = "stripe";
    match kind {
        "checkout.session.completed" => {
            if !matches!(
                o["payment_status"].as_str(),
                Some("paid" | "no_payment_required")
            ) {
                // Delayed methods settle later (checkout.session.async_payment_succeeded).
                return ignore("billing.not_paid");
            }
            let reference =
                s(&o["client_reference_id"]).or_else(|| s(&o["metadata"]["checkout_id"]));
            let payment = NewPayment {
                user_id: String::new(),
                processor: P.into(),
                external_id: s(&o["id"]).unwrap_or_default(),
                payment_ref: s(&o["payment_intent"]),
                item: String::new(),
                description: String::new(),
                amount_cents: o["amount_total"].as_i64().unwrap_or(0),
                currency: s(&o["currency"]).unwrap_or_default(),
                tax_cents: o["total_details"]["amount_tax"].as_i64(),
                receipt_url: None,
                credits: 0,
            };
            if payment.external_id.is_empty() {
                return ignore("billing.malformed_event");
            }
            completed_checkout(
                db,
                config,
                P,
                reference.as_deref(),
                payment,
                s(&o["customer"]),
                s(&o["subscription"]),
                now,
            )
            .await
        }
        "invoice.paid" => {
            let subscription = s(&o["subscription"])
                .or_else(|| s(&o["parent"]["subscription_details"]["subscription"]));
            let Some(subscription) = subscription else {
                return ignore("billing.not_a_subscription");
            };
            let checkout_id = s(&o["subscription_details"]["metadata"]["checkout_id"])
                .or_else(|| s(&o["parent"]["subscription_details"]["metadata"]["checkout_id"]));
            let Some((user_id, row, item)) =
                subscriber(db, P, &subscription, checkout_id.as_deref()).await?
            else {
                return ignore("billing.unknown_subscription");
            };
            let line = &o["lines"]["data"][0];
            let price =
                s(&line["price"]["id"]).or_else(|| s(&line["pricing"]["price_details"]["price"]));
            let plan = price
                .and_then(|p| plan_by_price(config, P, &p))
                .or_else(|| row.as_ref().and_then(|r| config.plan(&r.plan)))
                .or_else(|| item.as_deref().and_then(|i| config.plan(i)));
            let Some(plan) = plan else {
                return ignore("billing.unknown_price");
            };
            let period_end = line["period"]["end"].as_i64().map(|s| s * 1000);
            let payment = NewPayment {
                user_id: user_id.clone(),
                processor: P.into(),
                external_id: s(&o["id"]).unwrap_or_default(),
                payment_ref: s(&o["payment_intent"]).or_else(|| s(&o["charge"])),
                item: plan.id.clone(),
                description: plan.name.clone(),
                amount_cents: o["amount_paid"].as_i64().unwrap_or(0),
                currency: s(&o["currency"]).unwrap_or_default(),
                tax_cents: o["tax"].as_i64().or_else(|| {
                    o["total_taxes"]
                        .as_array()
                        .map(|t| t.iter().filter_map(|x| x["amount"].as_i64()).sum())
                }),
                receipt_url: s(&o["hosted_invoice_url"]),
                credits: crate::limits::monthly_credits(plan).unwrap_or(0),
            };
            let plan_change = if row.is_some() {
                PlanChange::Subscription {
                    processor: P.into(),
                    subscription_id: subscription.clone(),
                    status: Some("active".into()),
                    period_end,
                    cancel_at_period_end: None,
                    pending_plan: None,
                    plan: None,
                }
            } else {
                PlanChange::Set {
                    user_id: user_id.clone(),
                    plan: plan.id.clone(),
                    processor: P.into(),
                    customer_id: s(&o["customer"]),
                    subscription_id: Some(subscription),
                    period_end,
                }
            };
            apply(BillingChange {
                payment: Some(payment),
                plan_grant: plan_credit_grant(&user_id, plan, now),
                plan: Some(plan_change),
                ..BillingChange::default()
            })
        }
        "invoice.payment_failed" => {
            let Some(subscription) = s(&o["subscription"])
                .or_else(|| s(&o["parent"]["subscription_details"]["subscription"]))
            else {
                return ignore("billing.not_a_subscription");
            };
            if db.plan_by_subscription(P, &subscription).await?.is_none() {
                return ignore("billing.unknown_subscription");
            }
            apply(BillingChange {
                plan: Some(PlanChange::Subscription {
                    processor: P.into(),
                    subscription_id: subscription,
                    status: Some("past_due".into()),
                    period_end: None,
                    cancel_at_period_end: None,
                    pending_plan: None,
                    plan: None,
                }),
                ..BillingChange::default()
            })
        }
        "customer.subscription.updated" => {
            let Some(subscription) = s(&o["id"]) else {
                return ignore("billing.malformed_event");
            };
            let Some(row) = db.plan_by_subscription(P, &subscription).await? else {
                return ignore("billing.unknown_subscription");
            };
            let item = &o["items"]["data"][0];
            let status = match o["status"].as_str() {
                Some("active" | "trialing") => "active",
                Some("canceled" | "incomplete_expired") => "canceled",
                _ => "past_due",
            };
            let period_end = o["current_period_end"]
                .as_i64()
                .or_else(|| item["current_period_end"].as_i64())
                .map(|s| s * 1000);
            let mut change = BillingChange::default();
            let (mut plan, mut pending) = (None, Some(None));
            if let Some(new) = s(&item["price"]["id"]).and_then(|p| plan_by_price(config, P, &p)) {
                let old = config.plan(&row.plan);
                if new.id != row.plan {
                    // Upgrade at once (more credits a month), downgrade at the period's end.
                    if old.is_none_or(|old| new.credits >= old.credits) {
                        plan = Some(new.id.clone());
                        change.plan_grant = plan_credit_grant(&row.user_id, new, now);
                    } else {
                        pending = Some(Some(new.id.clone()));
                    }
                }
            }
            change.plan = Some(PlanChange::Subscription {
                processor: P.into(),
                subscription_id: subscription,
                status: Some(status.into()),
                period_end,
                cancel_at_period_end: o["cancel_at_period_end"].as_bool(),
                pending_plan: pending,
                plan,
            });
            apply(change)
        }
        "customer.subscription.deleted" => {
            let Some(subscription) = s(&o["id"]) else {
                return ignore("billing.malformed_event");
            };
            apply(BillingChange {
                plan: Some(PlanChange::Ended {
                    processor: P.into(),
                    subscription_id: subscription,
                }),
                ..BillingChange::default()
            })
        }
        "charge.succeeded" => {
            // A one-off payment's receipt is on its charge, not on the checkout session.
            let (Some(reference), Some(url)) = (s(&o["payment_intent"]), s(&o["receipt_url"]))
            else {
                return ignore("billing.event_ignored");
            };
            if !db.payment_known(P, &reference).await? {
                return Ok(Resolution::Later(Code::BillingPaymentNotYetRecorded));
            }
            apply(BillingChange {
                receipt: Some((P.into(), reference, url)),
                ..BillingChange::default()
            })
        }
        "charge.refunded" | "charge.dispute.created" => {
            let reference = s(&o["payment_intent"]).or_else(|| s(&o["invoice"]));
            let Some(reference) = reference else {
                return ignore("billing.unknown_payment");
            };
            let cents = if kind == "charge.refunded" {
                o["amount_refunded"].as_i64()
            } else {
                o["amount"].as_i64()
            };
            let Some(cents) = cents else {
                return ignore("billing.malformed_event");
            };
            refund(db, P, reference, cents).await
        }
        _ => ignore("billing.event_ignored"),
    }
}

/// A Creem event's effect.
pub async fn creem(
    db: &Db,
    config: &BillingConfig,
    kind: &str,
    o: &Value,
    now: i64,
) -> Result<Resolution, StoreError> {
    const P: &str = "creem";
    match kind {
        "checkout.completed" => {
            let reference = s(&o["request_id"]).or_else(|| s(&o["metadata"]["checkout_id"]));
            let order = &o["order"];
            let payment = NewPayment {
                user_id: String::new(),
                processor: P.into(),
                external_id: s(&order["id"]).or_else(|| s(&o["id"])).unwrap_or_default(),
                payment_ref: s(&order["transaction"]).or_else(|| s(&order["id"])),
                item: String::new(),
                description: String::new(),
                amount_cents: order["amount_paid"]
                    .as_i64()
                    .or_else(|| order["amount"].as_i64())
                    .unwrap_or(0),
                currency: s(&order["currency"]).unwrap_or_default().to_lowercase(),
                tax_cents: order["tax_amount"].as_i64(),
                receipt_url: None,
                credits: 0,
            };
            if payment.external_id.is_empty() {
                return ignore("billing.malformed_event");
            }
            let customer = s(&o["customer"]["id"]).or_else(|| s(&o["customer"]));
            let subscription = s(&o["subscription"]["id"]).or_else(|| s(&o["subscription"]));
            completed_checkout(
                db,
                config,
                P,
                reference.as_deref(),
                payment,
                customer,
                subscription,
                now,
            )
            .await
        }
        "subscription.paid" | "subscription.active" | "subscription.update" => {
            let Some(subscription) = s(&o["id"]) else {
                return ignore("billing.malformed_event");
            };
            let Some(row) = db.plan_by_subscription(P, &subscription).await? else {
                return ignore("billing.unknown_subscription");
            };
            let period_end = o["current_period_end_date"]
                .as_str()
                .and_then(parse_rfc3339_ms);
            let plan = config.plan(&row.plan);
            apply(BillingChange {
                plan_grant: plan.and_then(|p| plan_credit_grant(&row.user_id, p, now)),
                plan: Some(PlanChange::Subscription {
                    processor: P.into(),
                    subscription_id: subscription,
                    status: Some("active".into()),
                    period_end,
                    cancel_at_period_end: None,
                    pending_plan: None,
                    plan: None,
                }),
                ..BillingChange::default()
            })
        }
        "subscription.canceled" | "subscription.expired" => {
            let Some(subscription) = s(&o["id"]) else {
                return ignore("billing.malformed_event");
            };
            let period_end = o["current_period_end_date"]
                .as_str()
                .and_then(parse_rfc3339_ms);
            let change = if kind == "subscription.expired" || period_end.is_none_or(|e| e <= now) {
                PlanChange::Ended {
                    processor: P.into(),
                    subscription_id: subscription,
                }
            } else {
                // Access until the paid period ends.
                PlanChange::Subscription {
                    processor: P.into(),
                    subscription_id: subscription,
                    status: None,
                    period_end,
                    cancel_at_period_end: Some(true),
                    pending_plan: None,
                    plan: None,
                }
            };
            apply(BillingChange {
                plan: Some(change),
                ..BillingChange::default()
            })
        }
        "refund.created" | "dispute.created" => {
            let reference = s(&o["order"]["id"])
                .or_else(|| s(&o["transaction"]["order"]))
                .or_else(|| s(&o["transaction"]["id"]));
            let Some(reference) = reference else {
                return ignore("billing.unknown_payment");
            };
            let cents = o["refund_amount"].as_i64().or_else(|| o["amount"].as_i64());
            let Some(cents) = cents else {
                return ignore("billing.malformed_event");
            };
            refund(db, P, reference, cents).await
        }
        _ => ignore("billing.event_ignored"),
    }
}

/// `2026-12-05T10:00:00Z` or with fractional seconds, as Unix milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let time = time.split(['+']).next()?;
    let mut t = time.split(':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next().unwrap_or("0").parse().ok()?;
    let month = u32::try_from(m).ok().filter(|m| (1..=12).contains(m))?;
    let days = reelsmith_core::calendar::days_from_civil(y, month, u32::try_from(day).ok()?);
    Some(days * 86_400_000 + h * 3_600_000 + min * 60_000 + (sec * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339() {
        assert_eq!(super::parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            super::parse_rfc3339_ms("2027-01-01T00:00:00.000Z"),
            Some(1_798_761_600_000)
        );
    }
}
