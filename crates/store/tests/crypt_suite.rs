//! Encryption at rest (P-SEC-2): the sealed-object format, per-user data keys, crypto-shredding
//! and operator key rotation. Every case runs twice: SQLite with the local folder, and
//! PostgreSQL with S3 (`moto_server`), so both migrations and both stores are exercised.

mod support;

use bytes::Bytes;
use reelsmith_core::ErrorCode;
use reelsmith_store::crypt::{sealed_len, HEADER_LEN, SEGMENT_SIZE};
use reelsmith_store::*;

struct Env {
    db: Db,
    raw: MediaStore,
    _dir: tempfile::TempDir,
}

async fn sqlite_local() -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open_sqlite(&dir.path().join("reelsmith.db"), 8)
        .await
        .expect("open SQLite");
    db.migrate().await.expect("migrate SQLite");
    let raw = MediaStore::local(&dir.path().join("media")).expect("local store");
    Env { db, raw, _dir: dir }
}

async fn postgres_s3() -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = support::postgres::shared().create_database().await;
    let db = Db::connect(&url, 8).await.expect("connect PostgreSQL");
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
    Env { db, raw, _dir: dir }
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let env = super::sqlite_local().await;
                    super::$case(&env).await;
                    env.db.close().await;
                }
            )*
        }
        mod postgres_s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let env = super::postgres_s3().await;
                    super::$case(&env).await;
                    env.db.close().await;
                }
            )*
        }
    };
}

on_both!(
    p_sec_2_ranges_are_exact_at_and_across_segment_boundaries,
    p_sec_2_stored_bytes_are_ciphertext,
    p_sec_2_tampering_truncation_reordering_and_moving_are_detected,
    p_sec_2_destroyed_key_makes_a_backup_copy_unreadable,
    p_sec_2_purging_the_user_destroys_the_key,
    p_sec_2_rotate_rewraps_every_data_key_and_everything_still_reads,
    p_sec_2_owners_cannot_read_each_others_objects,
    p_sec_2_concurrent_first_use_agrees_on_one_data_key,
    p_sec_2_content_named_objects_are_renamed_once_and_still_read,
);

fn operator_key(byte: u8) -> OperatorKey {
    OperatorKey::from_bytes(&[byte; 32])
}

fn sealed(env: &Env, keyring: Keyring) -> SealedMedia {
    SealedMedia::new(env.raw.clone(), env.db.clone(), keyring)
}

async fn user(db: &Db, name: &str) -> String {
    db.create_user(
        &NewUser {
            email: format!("{name}@example.org"),
            username: name.to_owned(),
            password_hash: None,
            display_name: name.to_owned(),
            role: Role::User,
            birth_year: None,
            age_confirmed_min: Some(13),
        },
        1_700_000_000_000,
    )
    .await
    .expect("create user")
    .id
}

/// Bytes that are not all alike, so an off-by-one shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn code(err: ObjectError) -> &'static str {
    err.code().as_str()
}

async fn p_sec_2_ranges_are_exact_at_and_across_segment_boundaries(env: &Env) {
    let media = sealed(env, Keyring::new(operator_key(1)));
    let owner = media.for_owner(&user(&env.db, "ada").await).await.unwrap();
    let s = SEGMENT_SIZE;
    let plain = pattern((3 * s + 123) as usize);
    let info = owner
        .put_bytes("jobs/j1/r1/video.mp4", Bytes::from(plain.clone()))
        .await
        .unwrap();
    assert_eq!(
        info.size,
        plain.len() as u64,
        "put reports the plaintext size"
    );
    assert_eq!(
        env.raw
            .head("jobs/j1/r1/video.mp4")
            .await
            .unwrap()
            .unwrap()
            .size,
        sealed_len(plain.len() as u64)
    );
    assert_eq!(
        media
            .head("jobs/j1/r1/video.mp4")
            .await
            .unwrap()
            .unwrap()
            .size,
        plain.len() as u64
    );
    assert_eq!(
        owner.get_bytes("jobs/j1/r1/video.mp4").await.unwrap(),
        plain
    );
    let len = plain.len() as u64;
    for range in [
        0..1,
        0..s,
        s - 1..s,
        s - 1..s + 1,
        s..s + 1,
        s..2 * s,
        s - 5..2 * s + 5,
        1..len - 1,
        2 * s + 7..3 * s,
        3 * s..len,
        len - 1..len,
        len - 10..len + 500,
    ] {
        let got = owner
            .get_range("jobs/j1/r1/video.mp4", range.clone())
            .await
            .unwrap();
        let end = range.end.min(len) as usize;
        assert_eq!(got, plain[range.start as usize..end], "range {range:?}");
    }
    let err = owner
        .get_range("jobs/j1/r1/video.mp4", len..len + 1)
        .await
        .unwrap_err();
    assert_eq!(code(err), "media.range_not_satisfiable");

    // Sizes at the edges of the format: empty, exactly one segment, one byte more.
    for n in [0, s, s + 1, 2 * s] {
        let data = pattern(n as usize);
        let key = format!("uploads/edge/{n}");
        owner
            .put_bytes(&key, Bytes::from(data.clone()))
            .await
            .unwrap();
        assert_eq!(owner.get_bytes(&key).await.unwrap(), data, "size {n}");
        assert_eq!(owner.head(&key).await.unwrap().unwrap().size, n);
        if n > 0 {
            assert_eq!(
                owner.get_range(&key, n - 1..n).await.unwrap(),
                data[(n - 1) as usize..]
            );
        }
    }

    // A large file streamed in and out in 1 MiB chunks.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let big = pattern(3 * 1024 * 1024 + 77);
    std::fs::write(&path, &big).unwrap();
    let info = owner.put_file("jobs/j1/r1/big.bin", &path).await.unwrap();
    assert_eq!(info.size, big.len() as u64);
    assert_eq!(owner.get_bytes("jobs/j1/r1/big.bin").await.unwrap(), big);
    let mid = 1024 * 1024 + 5..2 * 1024 * 1024 + 9;
    assert_eq!(
        owner
            .get_range("jobs/j1/r1/big.bin", mid.clone())
            .await
            .unwrap(),
        big[mid.start as usize..mid.end as usize]
    );
}

async fn p_sec_2_stored_bytes_are_ciphertext(env: &Env) {
    let media = sealed(env, Keyring::new(operator_key(1)));
    let owner = media.for_owner(&user(&env.db, "ada").await).await.unwrap();
    let marker = b"THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG ".repeat(4000);
    owner
        .put_bytes("uploads/x/a", Bytes::from(marker.clone()))
        .await
        .unwrap();
    let raw = env.raw.get_bytes("uploads/x/a").await.unwrap();
    assert_eq!(&raw[..4], b"RSEM");
    assert!(
        !raw.windows(16).any(|w| w == &marker[..16]),
        "plaintext visible in storage"
    );
    // The same content written twice gets a fresh nonce prefix: no repeated ciphertext.
    owner
        .put_bytes("uploads/x/b", Bytes::from(marker))
        .await
        .unwrap();
    let again = env.raw.get_bytes("uploads/x/b").await.unwrap();
    assert_ne!(raw[HEADER_LEN as usize..], again[HEADER_LEN as usize..]);
}

async fn p_sec_2_tampering_truncation_reordering_and_moving_are_detected(env: &Env) {
    let media = sealed(env, Keyring::new(operator_key(1)));
    let owner = media.for_owner(&user(&env.db, "ada").await).await.unwrap();
    let s = SEGMENT_SIZE as usize;
    let t = s + 16;
    let h = HEADER_LEN as usize;
    let plain = pattern(3 * s + 10);
    owner
        .put_bytes("o/orig", Bytes::from(plain.clone()))
        .await
        .unwrap();
    let good = env.raw.get_bytes("o/orig").await.unwrap().to_vec();

    // Each forgery is written under the object's own key (the AAD names it), as an attacker
    // with write access to the bucket would.
    let forge = |bytes: Vec<u8>| env.raw.put_bytes("o/orig", bytes.into());

    // One flipped bit in segment 1: ranges inside it fail, ranges elsewhere still read.
    let mut flipped = good.clone();
    flipped[h + t + 100] ^= 1;
    forge(flipped).await.unwrap();
    let err = owner.get_range("o/orig", s as u64..s as u64 + 10).await;
    assert_eq!(code(err.unwrap_err()), "crypt.authentication_failed");
    assert_eq!(owner.get_range("o/orig", 0..10).await.unwrap(), plain[..10]);

    // Dropping the last segment leaves a size that is valid, but segment 2 was not final.
    forge(good[..h + 3 * t].to_vec()).await.unwrap();
    let err = owner.get_bytes("o/orig").await.unwrap_err();
    assert_eq!(code(err), "crypt.authentication_failed");
    // A size no sealed object can have.
    forge(good[..h + 5].to_vec()).await.unwrap();
    assert_eq!(
        code(owner.get_bytes("o/orig").await.unwrap_err()),
        "crypt.format"
    );

    // Segments 0 and 1 swapped.
    let mut swapped = good[..h].to_vec();
    swapped.extend_from_slice(&good[h + t..h + 2 * t]);
    swapped.extend_from_slice(&good[h..h + t]);
    swapped.extend_from_slice(&good[h + 2 * t..]);
    forge(swapped).await.unwrap();
    assert_eq!(
        code(owner.get_range("o/orig", 0..10).await.unwrap_err()),
        "crypt.authentication_failed"
    );

    // An edited header (another nonce prefix).
    let mut header = good.clone();
    header[30] ^= 0x80;
    forge(header).await.unwrap();
    assert_eq!(
        code(owner.get_range("o/orig", 0..10).await.unwrap_err()),
        "crypt.authentication_failed"
    );
    forge(good.clone()).await.unwrap();
    assert_eq!(owner.get_bytes("o/orig").await.unwrap(), plain);

    // The intact object copied under another key: the AAD names the key it was sealed for.
    env.raw
        .put_bytes("o/moved", good.clone().into())
        .await
        .unwrap();
    assert_eq!(
        code(owner.get_bytes("o/moved").await.unwrap_err()),
        "crypt.authentication_failed"
    );

    // A plaintext object (written around the encryption) is refused, not served.
    env.raw
        .put_bytes("o/plain", Bytes::from(plain.clone()))
        .await
        .unwrap();
    let err = owner.get_bytes("o/plain").await.unwrap_err();
    assert!(
        matches!(code(err), "crypt.format"),
        "plaintext objects are not served"
    );
    assert_eq!(owner.get_bytes("o/orig").await.unwrap(), plain);
}

async fn p_sec_2_destroyed_key_makes_a_backup_copy_unreadable(env: &Env) {
    let media = sealed(env, Keyring::new(operator_key(1)));
    let ada = user(&env.db, "ada").await;
    let bob = user(&env.db, "bob").await;
    let plain = pattern(200_000);
    let key = format!("uploads/{ada}/sha256/aa/photo");
    media
        .for_owner(&ada)
        .await
        .unwrap()
        .put_bytes(&key, Bytes::from(plain.clone()))
        .await
        .unwrap();
    media
        .for_owner(&bob)
        .await
        .unwrap()
        .put_bytes("uploads/bob/x", Bytes::from(plain.clone()))
        .await
        .unwrap();
    // The backup: a copy of the stored object taken before the account goes.
    let backup = env.raw.get_bytes(&key).await.unwrap();

    assert!(media.destroy_owner_key(&ada).await.unwrap());
    assert!(!env.db.has_data_key(&ada).await.unwrap());
    assert!(!media.destroy_owner_key(&ada).await.unwrap(), "idempotent");

    // Restore the copy from the "backup" and try every way in: the owner's (new) key, and the
    // key of every other user the database still has.
    env.raw.put_bytes(&key, backup.clone()).await.unwrap();
    let err = media.for_owner(&ada).await.unwrap().get_bytes(&key).await;
    assert_eq!(code(err.unwrap_err()), "crypt.key_unavailable");
    let err = media.for_owner(&bob).await.unwrap().get_bytes(&key).await;
    assert_eq!(code(err.unwrap_err()), "crypt.key_unavailable");
    // Nothing in the stored bytes is the plaintext.
    assert!(!backup.windows(32).any(|w| w == &plain[1000..1032]));
    // Other users are untouched.
    assert_eq!(
        media
            .for_owner(&bob)
            .await
            .unwrap()
            .get_bytes("uploads/bob/x")
            .await
            .unwrap(),
        plain
    );
}

async fn p_sec_2_purging_the_user_destroys_the_key(env: &Env) {
    let media = sealed(env, Keyring::new(operator_key(1)));
    let ada = user(&env.db, "ada").await;
    media
        .for_owner(&ada)
        .await
        .unwrap()
        .put_bytes("uploads/ada/x", Bytes::from_static(b"hello"))
        .await
        .unwrap();
    assert!(env.db.has_data_key(&ada).await.unwrap());
    assert!(env.db.purge_user(&ada).await.unwrap());
    assert!(!env.db.has_data_key(&ada).await.unwrap());
    // A purged user gets no new key either.
    let err = media.for_owner(&ada).await.unwrap_err();
    assert_eq!(code(err), "crypt.unknown_owner");
}

async fn p_sec_2_rotate_rewraps_every_data_key_and_everything_still_reads(env: &Env) {
    let old = sealed(env, Keyring::new(operator_key(1)));
    let (ada, bob, cy) = (
        user(&env.db, "ada").await,
        user(&env.db, "bob").await,
        user(&env.db, "cy").await,
    );
    for who in [&ada, &bob] {
        old.for_owner(who)
            .await
            .unwrap()
            .put_bytes(&format!("u/{who}"), Bytes::from(who.clone().into_bytes()))
            .await
            .unwrap();
    }
    // The new key is current; the old one still unwraps until rotation is done. A user who
    // first stores media now gets a data key wrapped under the new key at once.
    let both = sealed(
        env,
        Keyring::new(operator_key(2)).with_previous(operator_key(1)),
    );
    both.for_owner(&cy)
        .await
        .unwrap()
        .put_bytes(&format!("u/{cy}"), Bytes::from(cy.clone().into_bytes()))
        .await
        .unwrap();
    // A keyring that knows neither old key refuses before changing anything.
    let lost = sealed(env, Keyring::new(operator_key(3)));
    let err = lost.rotate().await.unwrap_err();
    assert_eq!(err.code(), "crypt.operator_key_unknown");

    let report = both.rotate().await.unwrap();
    assert_eq!(
        report,
        RotationReport {
            rewrapped: 2,
            already_current: 1
        }
    );
    assert_eq!(
        env.db.operator_key_ids_in_use().await.unwrap(),
        vec![(operator_key(2).id().to_owned(), 3)]
    );
    assert_eq!(both.rotate().await.unwrap().rewrapped, 0, "idempotent");

    // Only the new key is configured now, and every object still reads.
    let new = sealed(env, Keyring::new(operator_key(2)));
    for who in [&ada, &bob, &cy] {
        let got = new
            .for_owner(who)
            .await
            .unwrap()
            .get_bytes(&format!("u/{who}"))
            .await
            .unwrap();
        assert_eq!(got, who.as_bytes());
    }
    // And the old key alone no longer unwraps anything.
    let err = old.for_owner(&ada).await.unwrap_err();
    assert_eq!(code(err), "crypt.operator_key_unknown");
}

async fn p_sec_2_owners_cannot_read_each_others_objects(env: &Env) {
    let media = sealed(env, Keyring::new(operator_key(1)));
    let ada = media.for_owner(&user(&env.db, "ada").await).await.unwrap();
    let bob = media.for_owner(&user(&env.db, "bob").await).await.unwrap();
    ada.put_bytes("jobs/j/r1/video.mp4", Bytes::from_static(b"ada's video"))
        .await
        .unwrap();
    let err = bob.get_bytes("jobs/j/r1/video.mp4").await.unwrap_err();
    assert_eq!(code(err), "crypt.key_unavailable");
    let err = bob
        .open("jobs/j/r1/video.mp4", Some(0..3))
        .await
        .err()
        .expect("a foreign object does not open");
    assert_eq!(code(err), "crypt.key_unavailable");
}

async fn p_sec_2_concurrent_first_use_agrees_on_one_data_key(env: &Env) {
    let media = sealed(env, Keyring::new(operator_key(1)));
    let ada = user(&env.db, "ada").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..6 {
        let (media, ada) = (media.clone(), ada.clone());
        tasks.spawn(async move {
            let owner = media.for_owner(&ada).await.unwrap();
            owner
                .put_bytes(&format!("c/{i}"), Bytes::from(vec![i as u8; 10]))
                .await
                .unwrap();
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let owner = media.for_owner(&ada).await.unwrap();
    for i in 0..6u8 {
        assert_eq!(
            owner.get_bytes(&format!("c/{i}")).await.unwrap(),
            vec![i; 10]
        );
    }
}

#[tokio::test]
async fn p_sec_2_missing_key_file_is_generated_only_for_a_fresh_installation() {
    let env = sqlite_local().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("operator.key");
    let (keyring, created) = Keyring::load_or_create(&env.db, &key_file, &[])
        .await
        .unwrap();
    assert!(created);
    let (again, created) = Keyring::load_or_create(&env.db, &key_file, &[])
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.current().id(), keyring.current().id());
    let media = sealed(&env, keyring);
    media
        .for_owner(&user(&env.db, "ada").await)
        .await
        .unwrap()
        .put_bytes("a", Bytes::from_static(b"x"))
        .await
        .unwrap();
    std::fs::remove_file(&key_file).unwrap();
    let err = Keyring::load_or_create(&env.db, &key_file, &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "crypt.key_file_missing");
    assert!(!key_file.exists(), "no replacement key was generated");
}

async fn upload_row(db: &Db, owner: &str, key: &str, size: usize) -> Upload {
    db.create_upload(
        &NewUpload {
            owner_id: owner.to_owned(),
            kind: UploadKind::Video,
            object_key: key.to_owned(),
            size: size as i64,
            mime: "video/mp4".into(),
            width: None,
            height: None,
            duration_ms: Some(1000),
        },
        now_ms(),
    )
    .await
    .expect("upload row")
}

/// P-SEC-2: an installation that named uploads by the SHA-256 of their plaintext (two rows
/// sharing one object, as content addressing did) is moved to content-free names: every row
/// still reads its bytes, no stored name reveals the plaintext's hash, the old objects are gone,
/// and a second run (or one after an interruption) changes nothing.
async fn p_sec_2_content_named_objects_are_renamed_once_and_still_read(env: &Env) {
    let media = sealed(env, Keyring::new(operator_key(1)));
    let ada = user(&env.db, "ada").await;
    let bob = user(&env.db, "bob").await;
    let known = pattern(3 * SEGMENT_SIZE as usize + 5);
    let plain_hash = content_key("x", &known)
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let ada_old = content_key(&format!("uploads/{ada}"), &known);
    let bob_old = content_key(&format!("uploads/{bob}"), &known);
    let ada_media = media.for_owner(&ada).await.unwrap();
    ada_media
        .put_bytes(&ada_old, Bytes::from(known.clone()))
        .await
        .unwrap();
    media
        .for_owner(&bob)
        .await
        .unwrap()
        .put_bytes(&bob_old, Bytes::from(known.clone()))
        .await
        .unwrap();
    let ada_first = upload_row(&env.db, &ada, &ada_old, known.len()).await;
    let ada_again = upload_row(&env.db, &ada, &ada_old, known.len()).await;
    let bob_row = upload_row(&env.db, &bob, &bob_old, known.len()).await;
    // A row renamed elsewhere already stays as it is.
    let fresh_key = upload_object_key(&ada);
    ada_media
        .put_bytes(&fresh_key, Bytes::from_static(b"fresh"))
        .await
        .unwrap();
    let fresh = upload_row(&env.db, &ada, &fresh_key, 5).await;

    let report = rename_content_addressed(&env.db, &media).await.unwrap();
    assert_eq!(
        report,
        RenameReport {
            renamed: 3,
            deleted: 2,
            missing: 0
        }
    );
    for (row, owner) in [(&ada_first, &ada), (&ada_again, &ada), (&bob_row, &bob)] {
        let now = env
            .db
            .upload_for_owner(owner, &row.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.object_key, format!("uploads/{owner}/o/{}", row.id));
        let bytes = media
            .for_owner(owner)
            .await
            .unwrap()
            .get_bytes(&now.object_key)
            .await
            .unwrap();
        assert_eq!(bytes, known, "row {} reads its bytes", row.id);
    }
    let still = env
        .db
        .upload_for_owner(&ada, &fresh.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.object_key, fresh_key);
    let stored: Vec<String> = env
        .raw
        .list("uploads/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(stored.len(), 4, "{stored:?}");
    for key in &stored {
        assert!(!is_content_addressed(key), "{key}");
        assert!(
            !key.contains(&plain_hash),
            "{key} names the plaintext's hash"
        );
        assert!(!key.contains(&plain_hash[..16]), "{key}");
    }
    assert!(env.raw.head(&ada_old).await.unwrap().is_none());
    assert!(env.raw.head(&bob_old).await.unwrap().is_none());

    let again = rename_content_addressed(&env.db, &media).await.unwrap();
    assert_eq!(again, RenameReport::default());

    // Interrupted after the copy, before the row switched: the rerun writes the same new name,
    // so nothing is orphaned.
    let carl = user(&env.db, "carl").await;
    let carl_old = content_key(&format!("uploads/{carl}"), b"carl's clip");
    let carl_media = media.for_owner(&carl).await.unwrap();
    carl_media
        .put_bytes(&carl_old, Bytes::from_static(b"carl's clip"))
        .await
        .unwrap();
    let carl_row = upload_row(&env.db, &carl, &carl_old, 11).await;
    let half_done = format!("uploads/{carl}/o/{}", carl_row.id);
    carl_media
        .put_bytes(&half_done, Bytes::from_static(b"carl's clip"))
        .await
        .unwrap();
    let report = rename_content_addressed(&env.db, &media).await.unwrap();
    assert_eq!((report.renamed, report.deleted), (1, 1));
    let carl_objects = env.raw.list(&format!("uploads/{carl}/")).await.unwrap();
    assert_eq!(carl_objects.len(), 1, "{carl_objects:?}");
    assert_eq!(carl_objects[0].key, half_done);
}
