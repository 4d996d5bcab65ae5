//! The media storage test suite: every case runs against the local folder and against an S3
//! server (`moto_server`, started by `support::moto`). A missing moto fails the S3 half with a
//! hint to run scripts/setup; it is never skipped.

mod support;

use bytes::Bytes;
use futures::StreamExt;
use reelsmith_store::{content_key, MediaConfig, MediaStore, ObjectError, S3Config};

struct TestStore {
    store: MediaStore,
    _dir: Option<tempfile::TempDir>,
}

fn local_store() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = MediaConfig::Local {
        root: dir.path().join("media"),
    };
    TestStore {
        store: MediaStore::from_config(&config).expect("local store"),
        _dir: Some(dir),
    }
}

fn s3_store() -> TestStore {
    let moto = support::moto::shared();
    let config = MediaConfig::S3(S3Config {
        endpoint: Some(moto.endpoint()),
        region: "us-east-1".into(),
        bucket: moto.create_bucket(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        path_style: true,
        allow_http: true,
    });
    TestStore {
        store: MediaStore::from_config(&config).expect("S3 store"),
        _dir: None,
    }
}

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let t = super::local_store();
                    super::$case(&t.store).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let t = super::s3_store();
                    super::$case(&t.store).await;
                }
            )*
        }
    };
}

on_both_stores!(
    put_get_head_delete,
    byte_ranges,
    listing_by_prefix,
    streaming_put_is_atomic,
    file_put_streams_large_objects,
);

/// Bytes that are not all alike, so an off-by-one range shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

async fn put_get_head_delete(store: &MediaStore) {
    let data = pattern(10_000);
    let key = content_key("uploads/u1", &data);
    assert!(store.head(&key).await.unwrap().is_none());
    assert!(matches!(
        store.get_bytes(&key).await,
        Err(ObjectError::NotFound(_))
    ));

    let info = store
        .put_bytes(&key, Bytes::from(data.clone()))
        .await
        .unwrap();
    assert_eq!(info.key, key);
    assert_eq!(info.size, 10_000);
    assert_eq!(store.get_bytes(&key).await.unwrap(), data);
    assert_eq!(store.head(&key).await.unwrap().unwrap().size, 10_000);

    // Overwrite replaces the whole object.
    store
        .put_bytes(&key, Bytes::from_static(b"short"))
        .await
        .unwrap();
    assert_eq!(
        store.get_bytes(&key).await.unwrap(),
        Bytes::from_static(b"short")
    );

    store.delete(&key).await.unwrap();
    assert!(store.head(&key).await.unwrap().is_none());
    store
        .delete(&key)
        .await
        .expect("deleting a missing object is fine");
    assert!(matches!(
        store.put_bytes("../escape", Bytes::new()).await,
        Err(ObjectError::InvalidKey(_))
    ));
}

async fn byte_ranges(store: &MediaStore) {
    let data = pattern(4_096);
    store
        .put_bytes("jobs/j1/r1/video.mp4", Bytes::from(data.clone()))
        .await
        .unwrap();
    let key = "jobs/j1/r1/video.mp4";
    assert_eq!(store.get_range(key, 0..1).await.unwrap(), data[0..1]);
    assert_eq!(
        store.get_range(key, 100..2_000).await.unwrap(),
        data[100..2_000]
    );
    assert_eq!(
        store.get_range(key, 4_000..10_000).await.unwrap(),
        data[4_000..],
        "end clamped"
    );

    let reader = store.open(key, Some(1_000..3_000)).await.unwrap();
    assert_eq!((reader.size, reader.range.clone()), (4_096, 1_000..3_000));
    let chunks: Vec<Bytes> = reader.stream.map(|c| c.unwrap()).collect().await;
    assert_eq!(chunks.concat(), data[1_000..3_000]);

    let whole = store.open(key, None).await.unwrap();
    assert_eq!(whole.range, 0..4_096);

    for bad in [4_096..4_100, 10..10, 5_000..6_000] {
        assert!(
            matches!(
                store.open(key, Some(bad.clone())).await,
                Err(ObjectError::RangeNotSatisfiable { size: 4_096, .. })
            ),
            "{bad:?} should be refused"
        );
    }
    assert!(matches!(
        store.get_range("jobs/none", 0..1).await,
        Err(ObjectError::NotFound(_))
    ));
}

async fn listing_by_prefix(store: &MediaStore) {
    for key in [
        "uploads/u1/a",
        "uploads/u1/sub/b",
        "uploads/u10/c",
        "jobs/j1/d",
    ] {
        store
            .put_bytes(key, Bytes::from(key.as_bytes().to_vec()))
            .await
            .unwrap();
    }
    let keys = |infos: Vec<reelsmith_store::ObjectInfo>| {
        infos.into_iter().map(|i| i.key).collect::<Vec<_>>()
    };
    assert_eq!(
        keys(store.list("uploads/u1").await.unwrap()),
        vec!["uploads/u1/a", "uploads/u1/sub/b"]
    );
    assert_eq!(
        keys(store.list("uploads/u1/").await.unwrap()),
        vec!["uploads/u1/a", "uploads/u1/sub/b"]
    );
    assert_eq!(keys(store.list("").await.unwrap()).len(), 4);
    assert!(store.list("nothing").await.unwrap().is_empty());
    let sizes: Vec<u64> = store
        .list("jobs")
        .await
        .unwrap()
        .iter()
        .map(|i| i.size)
        .collect();
    assert_eq!(sizes, vec![9]);
}

async fn streaming_put_is_atomic(store: &MediaStore) {
    let part = Bytes::from(pattern(300_000));
    let ok = futures::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(part.clone())));
    let info = store.put_stream("jobs/j2/r1/video.mp4", ok).await.unwrap();
    assert_eq!(info.size, 1_200_000);
    let back = store.get_bytes("jobs/j2/r1/video.mp4").await.unwrap();
    assert_eq!(back.len(), 1_200_000);
    assert_eq!(back[900_000..900_100], part[0..100]);

    // A source that fails midway leaves nothing under the key, not a partial object.
    let failing = futures::stream::iter(vec![
        Ok(part.clone()),
        Err(std::io::Error::other("encoder died")),
    ]);
    let err = store
        .put_stream("jobs/j3/r1/video.mp4", failing)
        .await
        .unwrap_err();
    assert!(matches!(err, ObjectError::Source(_)), "{err}");
    assert!(store.head("jobs/j3/r1/video.mp4").await.unwrap().is_none());
    assert!(store.list("jobs/j3").await.unwrap().is_empty());
}

async fn file_put_streams_large_objects(store: &MediaStore) {
    // Bigger than one S3 multipart part (5 MiB), so the multipart path is really taken.
    let data = pattern(6 * 1024 * 1024 + 123);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &data).unwrap();
    let info = store
        .put_file("jobs/j4/r1/video.mp4", file.path())
        .await
        .unwrap();
    assert_eq!(info.size, data.len() as u64);
    let tail = store
        .get_range("jobs/j4/r1/video.mp4", 6 * 1024 * 1024..7 * 1024 * 1024)
        .await
        .unwrap();
    assert_eq!(tail, data[6 * 1024 * 1024..]);
    assert_eq!(store.get_bytes("jobs/j4/r1/video.mp4").await.unwrap(), data);
}
