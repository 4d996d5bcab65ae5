//! The two backends every store-touching suite runs on: SQLite with a local folder, and
//! PostgreSQL with S3 (moto), each started by the test itself. `on_both!` runs each case on both.
//! Included by the suites that declare `mod common;` and `mod support;` before `mod backends;`.

use std::sync::Arc;

use reelsmith_config::Config;
use reelsmith_mail::OutboxMailer;
use reelsmith_server::{router, AppState};
use reelsmith_store::{Db, Keyring, MediaStore, OperatorKey, S3Config, SealedMedia};

use crate::common::{app_with, TestApp};
use crate::support;

pub async fn sqlite_local() -> TestApp {
    app_with(|c| c.rate_limits.job_submission.count = 1000).await
}

pub async fn postgres_s3() -> TestApp {
    postgres_s3_with(|_| {}).await
}

/// [`postgres_s3`] with settings of the test's own.
#[allow(dead_code)]
pub async fn postgres_s3_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults_for(dir.path());
    config.rate_limits.job_submission.count = 1000;
    config.speech.default_voice = "espeak".into();
    configure(&mut config);
    let url = support::postgres::shared().create_database().await;
    let db = Db::connect(&url, 4).await.expect("connect PostgreSQL");
    db.migrate().await.expect("migrate PostgreSQL");
    let moto = support::moto::shared();
    let raw = MediaStore::s3(&S3Config {
        endpoint: Some(moto.endpoint()),
        region: "us-east-1".into(),
        bucket: moto.create_bucket(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        path_style: true,
        allow_http: true,
    })
    .expect("S3 store");
    let media = SealedMedia::new(raw, db.clone(), Keyring::new(OperatorKey::generate().0));
    let outbox = dir.path().join("outbox");
    let mailer = Arc::new(OutboxMailer::new(&outbox, &config.email.from).unwrap());
    let state = AppState::new(db, media, mailer, Arc::new(config));
    TestApp {
        app: router(state.clone()),
        state,
        outbox,
        dir,
    }
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::backends::sqlite_local().await).await;
                }
            )*
        }
        mod postgres_s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::backends::postgres_s3().await).await;
                }
            )*
        }
    };
}
