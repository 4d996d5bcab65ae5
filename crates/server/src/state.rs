//! What every handler shares: the database, media storage, the mailer, the configuration and
//! the metrics. Cheap to clone.

use std::sync::Arc;

use reelsmith_config::Config;
use reelsmith_mail::{Branding, Mailer};
use reelsmith_store::{Db, SealedMedia};

use crate::metrics::Metrics;
use crate::time::Clock;
use crate::webhooks::SharedFalKeys;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// Media storage, sealed under each owner's data key (P-SEC-2).
    pub media: SealedMedia,
    pub mailer: Arc<dyn Mailer>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// fal's webhook verification keys, cached.
    pub fal_keys: SharedFalKeys,
    /// "Now" for what expires (export links); tests advance it.
    pub clock: Clock,
    /// Permits for decoding uploaded images (`uploads.decode_concurrency`).
    pub decode_permits: Arc<tokio::sync::Semaphore>,
    /// The automated checks' rules (P-SAFE-1), reloaded when the operator's file changes.
    pub rules: reelsmith_safety::RuleBook,
    /// Wake-ups for job event streams (one database listener per process on PostgreSQL).
    pub live: Arc<reelsmith_store::LiveEvents>,
    /// The model registry jobs are planned (quoted) with at submission.
    pub models: reelsmith_jobs::ModelRegistry,
    /// The image classifier for uploads (P-SAFE-1), when the operator set one up.
    pub image_check: Option<Arc<reelsmith_safety::classifier::ImageClassifier>>,
    /// The media library and stock providers scenes find pictures in (issue 25).
    pub stock: Arc<crate::stock_search::StockSources>,
}

impl AppState {
    pub fn new(db: Db, media: SealedMedia, mailer: Arc<dyn Mailer>, config: Arc<Config>) -> Self {
        let rules = rule_book(&config);
        let image_check = image_check(&config);
        let stock = Arc::new(crate::stock_search::StockSources::from_config(
            &config.stock,
            &config.providers,
        ));
        let decode_permits = Arc::new(tokio::sync::Semaphore::new(
            config.uploads.decode_concurrency.max(1),
        ));
        let live = Arc::new(reelsmith_store::LiveEvents::new(db.clone()));
        let models = model_registry(&config);
        AppState {
            live,
            db,
            media,
            mailer,
            config,
            metrics: Arc::new(Metrics::default()),
            fal_keys: SharedFalKeys::default(),
            clock: Clock::default(),
            decode_permits,
            rules,
            models,
            image_check,
            stock,
        }
    }

    /// Cookies are `Secure` exactly when people reach us over https (P-SEC-3).
    /// Called for every response (HSTS), so it reads the settings instead of building the URL.
    pub fn secure_cookies(&self) -> bool {
        match &self.config.server.public_url {
            Some(url) => url.starts_with("https://"),
            None => self.config.server.tls.cert.is_some(),
        }
    }

    pub fn public_url(&self) -> String {
        public_url(&self.config)
    }

    pub fn branding(&self) -> Branding {
        branding(&self.config)
    }
}

/// The models jobs are quoted with: the built-in ones and the operator's. The configuration was
/// validated at load, so a refusal here means it was not loaded through `load_validated`: the
/// built-in models are used and the reason logged.
fn model_registry(config: &Config) -> reelsmith_jobs::ModelRegistry {
    reelsmith_jobs::ModelRegistry::from_config(&config.providers).unwrap_or_else(|why| {
        tracing::error!(%why, "configured models ignored");
        reelsmith_jobs::ModelRegistry::default()
    })
}

/// The operator's moderation rules, or the shipped ones when the file cannot be used at start
/// (`reelsmith config check` reports why).
fn rule_book(config: &Config) -> reelsmith_safety::RuleBook {
    let path = config.sharing.moderation_rules_file.as_deref();
    reelsmith_safety::RuleBook::open(path).unwrap_or_else(|err| {
        tracing::error!(code = %err.code(), error = %err, "moderation rules unusable: the shipped rules apply");
        reelsmith_safety::RuleBook::default()
    })
}

/// The process's image classifier. `reelsmith serve` refuses to start when the configured
/// model is unusable (D-safety-1), so an error here is only logged.
fn image_check(config: &Config) -> Option<Arc<reelsmith_safety::classifier::ImageClassifier>> {
    reelsmith_safety::classifier::ImageClassifier::shared(&config.sharing.image_check)
        .unwrap_or_else(|err| {
            tracing::error!(code = %err.code(), error = %err, "the image classifier is unusable: uploads are not checked");
            None
        })
}

/// Where people reach this service: `server.public_url`, else the listen address with the
/// scheme the server itself serves.
pub fn public_url(config: &Config) -> String {
    match &config.server.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            // Serving TLS ourselves means people reach us over https.
            let scheme = if config.server.tls.cert.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}", config.server.listen)
        }
    }
}

/// What emails say about the service; the CLI's notices use it too.
pub fn branding(config: &Config) -> Branding {
    Branding {
        product: "Reelsmith".to_owned(),
        public_url: public_url(config),
    }
}
