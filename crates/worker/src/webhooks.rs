//! Sends the outbound webhook outbox (issue 23): each worker process claims due deliveries,
//! signs them per the Standard Webhooks scheme and posts them to the owner's endpoint.
//!
//! Signing: `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed
//! with the base64-decoded part of the endpoint's `whsec_…` secret; `webhook-id` is the
//! delivery's id (the same on every attempt) and `webhook-timestamp` the attempt's Unix seconds.
//!
//! A receiver that does not answer 2xx in time (an error, a redirect, silence) gets the event
//! again after a doubling delay; after `max_attempts` attempts or `retry_hours`, the delivery
//! fails, the endpoint is disabled and its owner is told by email. Redirects are never
//! followed, and endpoints resolving to loopback or private addresses are refused unless the
//! operator allowed it, so an API user cannot make the server call inside its own network.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reelsmith_config::WebhooksConfig;
use reelsmith_mail::Message;
use reelsmith_store::{now_ms, AttemptOutcome, Db, DueDelivery, KeyStore, UnixMillis};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::notify::JobMail;
/// Secrets, signatures and the address check are shared with the API server.
pub use reelsmith_jobs::webhooks::{
    check_url, is_public, new_secret, secret_context, sign, UrlError, SECRET_PREFIX,
};

/// Deliveries one round claims.
const BATCH: i64 = 16;

/// The addresses to connect to: all of the name's, which must all be public unless insecure
/// endpoints are allowed. The client is pinned to them, so a second lookup cannot swap in a
/// private address after the check.
async fn public_addresses(
    url: &reqwest::Url,
    allow_insecure: bool,
) -> Result<Vec<SocketAddr>, String> {
    let host = url.host_str().ok_or("the address has no host")?;
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| "the host name does not resolve".to_owned())?
        .collect();
    if addrs.is_empty() {
        return Err("the host name does not resolve".into());
    }
    if !allow_insecure && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err("the host resolves to a loopback, private or reserved address".into());
    }
    Ok(addrs)
}

/// Sends due deliveries until shutdown.
pub struct WebhookSender {
    db: Db,
    keys: KeyStore,
    config: WebhooksConfig,
    mail: Arc<JobMail>,
}

impl WebhookSender {
    pub fn new(db: Db, keys: KeyStore, config: WebhooksConfig, mail: Arc<JobMail>) -> Self {
        WebhookSender {
            db,
            keys,
            config,
            mail,
        }
    }

    /// Rounds every `poll_ms` until `shutdown`. A database error skips a round; the rows wait.
    pub async fn run(self, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.config.poll_ms.max(10));
        loop {
            if let Err(e) = self.round().await {
                warn!(error = %e, "webhook round failed; retrying at the next one");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Claim and send what is due now; answers how many deliveries were attempted.
    pub async fn round(&self) -> Result<usize, reelsmith_store::StoreError> {
        let lease_ms = i64::try_from(self.config.timeout_ms)
            .unwrap_or(i64::MAX / 4)
            .saturating_mul(2)
            .saturating_add(5_000);
        let due = self
            .db
            .claim_due_webhooks(BATCH, lease_ms, now_ms())
            .await?;
        let n = due.len();
        futures::future::join_all(due.into_iter().map(|d| self.deliver(d))).await;
        Ok(n)
    }

    async fn deliver(&self, delivery: DueDelivery) {
        let sent = self.attempt(&delivery).await;
        let now = now_ms();
        let outcome = match sent {
            Ok(status) if (200..300).contains(&status) => AttemptOutcome::Delivered { status },
            Ok(status) if (300..400).contains(&status) => self.failed(
                &delivery,
                Some(status),
                format!("answered {status}: redirects are not followed"),
                now,
            ),
            Ok(status) => self.failed(&delivery, Some(status), format!("answered {status}"), now),
            Err(error) => self.failed(&delivery, None, error, now),
        };
        match self
            .db
            .record_webhook_attempt(&delivery, &outcome, now)
            .await
        {
            Ok(true) => {
                warn!(endpoint_id = %delivery.endpoint_id, "webhook endpoint disabled after failed deliveries");
                self.tell_owner(&delivery).await;
            }
            Ok(false) => {}
            Err(e) => {
                warn!(delivery_id = %delivery.id, error = %e, "could not record a webhook attempt")
            }
        }
    }

    fn failed(
        &self,
        delivery: &DueDelivery,
        status: Option<u16>,
        error: String,
        now: UnixMillis,
    ) -> AttemptOutcome {
        let attempts = delivery.attempts + 1;
        let window =
            i64::try_from(self.config.retry_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
        let next = now.saturating_add(self.delay_ms(attempts));
        if attempts >= i64::from(self.config.max_attempts.max(1))
            || next.saturating_sub(delivery.created_at) > window
        {
            AttemptOutcome::GiveUp { status, error }
        } else {
            AttemptOutcome::Retry {
                status,
                error,
                next_attempt_at: next,
            }
        }
    }

    /// `retry_base_ms × 2^(attempts−1)`, capped at `max_delay_seconds`.
    pub fn delay_ms(&self, attempts: i64) -> i64 {
        let cap = self.config.max_delay_seconds.saturating_mul(1000);
        let exp = u32::try_from((attempts - 1).clamp(0, 40)).unwrap_or(40);
        let delay = self
            .config
            .retry_base_ms
            .saturating_mul(2u64.saturating_pow(exp))
            .min(cap);
        i64::try_from(delay).unwrap_or(i64::MAX)
    }

    /// One POST; the answer's status, or why there was none. The URL is never put in an error:
    /// it may carry the owner's own tokens in its query.
    async fn attempt(&self, delivery: &DueDelivery) -> Result<u16, String> {
        let key = self
            .keys
            .data_key(&delivery.user_id, now_ms())
            .await
            .map_err(|_| "the signing secret is not readable".to_owned())?;
        let secret = key
            .open_value(
                &secret_context(&delivery.endpoint_id),
                &delivery.secret_sealed,
            )
            .and_then(|s| String::from_utf8(s).ok())
            .ok_or("the signing secret is not readable")?;
        let url =
            check_url(&delivery.url, self.config.allow_insecure).map_err(|e| e.to_string())?;
        let addrs = public_addresses(&url, self.config.allow_insecure).await?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(self.config.timeout_ms.max(1)))
            .resolve_to_addrs(&host, &addrs)
            .build()
            .map_err(|_| "could not set up the HTTP client".to_owned())?;
        let timestamp = now_ms() / 1000;
        let signature = sign(
            &secret,
            &delivery.id,
            timestamp,
            delivery.payload.as_bytes(),
        )
        .ok_or("the signing secret is malformed")?;
        let answer = client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", "Reelsmith-Webhooks/1")
            .header("webhook-id", &delivery.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "no answer in time".to_owned()
                } else if e.is_connect() {
                    "could not connect".to_owned()
                } else {
                    "the request failed".to_owned()
                }
            })?;
        Ok(answer.status().as_u16())
    }

    async fn tell_owner(&self, delivery: &DueDelivery) {
        let owner = match self.db.user_by_id(&delivery.user_id).await {
            Ok(Some(owner)) if !owner.is_deleted() => owner,
            Ok(_) => return,
            Err(e) => {
                warn!(error = %e, "could not read the webhook owner");
                return;
            }
        };
        let brand = &self.mail.branding;
        let message = Message {
            to: owner.email.clone(),
            subject: format!("{}: a webhook endpoint was disabled", brand.product),
            text_body: format!(
                "Hello {name},\n\n\
                 {product} could not deliver events to one of your webhook endpoints (id {id}) \
                 after repeated attempts, so it has been disabled and receives no more events.\n\n\
                 Its delivery log, on the API tokens section of your account page at {url}/account \
                 and at GET /api/v1/tokens/{{token}}/webhooks/{id}/deliveries, shows each attempt \
                 and what your server answered. Fix the receiver, then register the endpoint \
                 again.\n\n-- {product}\n",
                name = owner.display_name,
                product = brand.product,
                id = delivery.endpoint_id,
                url = brand.public_url,
            ),
            html_body: None,
            headers: Vec::new(),
        };
        match self.mail.mailer.send(&message).await {
            Ok(()) => {
                info!(endpoint_id = %delivery.endpoint_id, "told the owner of a disabled webhook endpoint")
            }
            Err(e) => warn!(error = %e, "could not email the owner of a disabled webhook endpoint"),
        }
    }
}
