//! Fuzzing `POST /api/v1/uploads` (issue 23) through the real router: the multipart envelope
//! (boundaries of every shape, the boundary inside the file, bare LF line ends, missing closing
//! delimiters, extra fields and files, junk before and after), then content sniffing and the
//! image, audio and video checks (truncated and corrupted PNG, JPEG and WAV files, magic numbers
//! over noise, text). For every request: an answer of 201 or a 4xx problem with an `upload.*`
//! code, never a server error; after a refusal nothing is left (no upload row, no stored object,
//! no spooled file); after an acceptance the upload is listed and readable.
//!
//! Property tests on stable (proptest): `PROPTEST_CASES` sets the number of cases (CI runs the
//! default, a few seconds); the seeds in `tests/fuzz/corpus/uploads/` run first; failures are kept
//! in `proptest-regressions/`.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use common::{app_with, Auth, TestApp};
use proptest::prelude::*;

#[path = "../../../tests/fuzz/config.rs"]
mod fuzz_settings;
use fuzz_settings::fuzz_config;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
    auth: Auth,
}

/// One server and one user for every case: the cases are many and each must be cheap.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (app, auth) = runtime.block_on(async {
            let app = app_with(|c| {
                c.uploads.rate_limit.count = 1_000_000;
                // Small, so the size refusals are reached too.
                c.limits.max_file_bytes = 6_000;
            })
            .await;
            let auth = Auth::Cookie(app.signed_in_user("fuzz@example.org", "fuzzer").await);
            (app, auth)
        });
        Fixture { runtime, app, auth }
    })
}

fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                1
            }
        })
        .sum()
}

/// Sends one upload and checks what it left behind.
fn check(content_type: &str, body: Vec<u8>) -> Result<(), String> {
    // The cases of all targets share the user: one at a time, so the before and after counts
    // are this case's own.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let f = fixture();
    let t = &f.app;
    f.runtime.block_on(async {
        let media = t.dir.path().join("media");
        let spool = reelsmith_server::uploads::spool_dir(&t.state.config);
        let before = files_under(&media);
        // A value HTTP cannot carry (a control character) never reaches the server: hyper
        // refuses the request line first. Nothing to check for such a case.
        let Ok(content_type) = header::HeaderValue::from_bytes(content_type.as_bytes()) else {
            return Ok(());
        };
        let request = t
            .request(Method::POST, "/api/v1/uploads", &f.auth)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        let reply = t.send(request).await;
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        let spooled = files_under(&spool);
        if spooled != 0 {
            return Err(format!(
                "{spooled} spooled files left after {}: {text}",
                reply.status
            ));
        }
        match reply.status {
            StatusCode::CREATED => {
                let id = reply.json()["id"].as_str().unwrap_or_default().to_owned();
                let got = t
                    .get(&format!("/api/v1/uploads/{id}/content"), &f.auth)
                    .await;
                if got.status != StatusCode::OK || got.body.is_empty() {
                    return Err(format!(
                        "accepted upload {id} cannot be read: {}",
                        got.status
                    ));
                }
                // Removed again, so the quota never fills and the next case starts clean.
                let gone = t.delete(&format!("/api/v1/uploads/{id}"), &f.auth).await;
                if !gone.status.is_success() {
                    return Err(format!("delete {id}: {}", gone.status));
                }
                Ok(())
            }
            StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE
            | StatusCode::UNPROCESSABLE_ENTITY => {
                let problem = reply.json();
                let code = problem["code"].as_str().unwrap_or_default();
                // The upload's own refusals, and the decoders' for a file of a known kind that
                // turns out damaged or beyond the limits.
                let families = ["upload.", "image.", "audio.", "clip.", "media."];
                if !families.iter().any(|f| code.starts_with(f)) {
                    return Err(format!("{}: code {code:?} in {text}", reply.status));
                }
                let after = files_under(&media);
                if after != before {
                    return Err(format!(
                        "a refusal ({code}) left {after} objects, was {before}"
                    ));
                }
                let listed = t.get("/api/v1/uploads", &f.auth).await.json();
                if listed["items"].as_array().is_some_and(|a| !a.is_empty()) {
                    return Err(format!("a refusal ({code}) left an upload: {listed}"));
                }
                Ok(())
            }
            status => Err(format!("answered {status}: {text}")),
        }
    })
}

fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x as u8).wrapping_mul(seed), (y as u8) ^ seed, seed])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A mono 8 kHz 16-bit WAV of `samples` samples.
fn wav(samples: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8_000u32.to_le_bytes());
    out.extend_from_slice(&16_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(samples * 2).to_le_bytes());
    for i in 0..samples {
        out.extend_from_slice(&(((i * 37) % 2000) as i16 - 1000).to_le_bytes());
    }
    out
}

/// What a file may hold: real files, damaged real files, magic numbers over noise, noise.
fn content() -> impl Strategy<Value = Vec<u8>> {
    let real = prop_oneof![
        (1u32..24, 1u32..24, any::<u8>()).prop_map(|(w, h, s)| png(w, h, s)),
        (8u32..40, 8u32..40).prop_map(|(w, h)| jpeg(w, h)),
        (1u32..2_000).prop_map(wav),
    ];
    let damaged = (
        real.clone(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(mut bytes, at, value, truncate)| {
            let i = at.index(bytes.len());
            if truncate {
                bytes.truncate(i.max(1));
            } else {
                bytes[i] = value;
            }
            bytes
        });
    let magic = prop::sample::select(vec![
        &b"\xFF\xD8\xFF"[..],
        b"\x89PNG\r\n\x1a\n",
        b"GIF89a",
        b"GIF87a",
        b"RIFF\0\0\0\0WEBP",
        b"BM",
        b"RIFF\x24\0\0\0WAVEfmt ",
        b"ID3",
        b"\0\0\0\x18ftypmp42",
        b"\x1a\x45\xdf\xa3",
        b"OggS",
        b"fLaC",
        b"#EXTM3U\n",
        b"ffconcat version 1.0\nfile /etc/passwd\n",
    ]);
    let noisy = (magic, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(m, tail)| {
        let mut bytes = m.to_vec();
        bytes.extend(tail);
        bytes
    });
    prop_oneof![
        2 => real,
        3 => damaged,
        3 => noisy,
        1 => prop::collection::vec(any::<u8>(), 0..400),
        1 => ".{0,200}".prop_map(String::into_bytes),
    ]
}

/// How the form around the file is written.
#[derive(Debug, Clone)]
struct Envelope {
    boundary: String,
    quoted: bool,
    lf_only: bool,
    preamble: Vec<u8>,
    extra_field: Option<String>,
    second_file: bool,
    file_name: Option<String>,
    field_name: String,
    boundary_in_content: Option<prop::sample::Index>,
    close: bool,
    epilogue: Vec<u8>,
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        (
            prop_oneof![
                "[A-Za-z0-9'()+_,./:=?-]{1,70}",
                "[A-Za-z0-9 ]{1,10}",
                Just("x".repeat(71)),
                ".{0,12}",
            ],
            any::<bool>(),
            prop::bool::weighted(0.15),
            prop::collection::vec(any::<u8>(), 0..20),
        ),
        (
            prop::option::weighted(0.3, "[a-z]{1,8}"),
            prop::bool::weighted(0.1),
            prop::option::weighted(0.9, ".{0,30}"),
            prop_oneof![8 => Just("file".to_owned()), 1 => ".{0,10}"],
            prop::option::weighted(0.15, any::<prop::sample::Index>()),
            prop::bool::weighted(0.9),
            prop::collection::vec(any::<u8>(), 0..20),
        ),
    )
        .prop_map(
            |(
                (boundary, quoted, lf_only, preamble),
                (
                    extra_field,
                    second_file,
                    file_name,
                    field_name,
                    boundary_in_content,
                    close,
                    epilogue,
                ),
            )| Envelope {
                boundary,
                quoted,
                lf_only,
                preamble,
                extra_field,
                second_file,
                file_name,
                field_name,
                boundary_in_content,
                close,
                epilogue,
            },
        )
}

fn wrap(e: &Envelope, content: &[u8]) -> (String, Vec<u8>) {
    let nl: &[u8] = if e.lf_only { b"\n" } else { b"\r\n" };
    let b = e.boundary.as_bytes();
    let mut body = e.preamble.clone();
    let part_start = |body: &mut Vec<u8>| {
        if !body.is_empty() {
            body.extend_from_slice(nl);
        }
        body.extend_from_slice(b"--");
        body.extend_from_slice(b);
        body.extend_from_slice(nl);
    };
    if let Some(value) = &e.extra_field {
        part_start(&mut body);
        body.extend_from_slice(b"Content-Disposition: form-data; name=\"note\"");
        body.extend_from_slice(nl);
        body.extend_from_slice(nl);
        body.extend_from_slice(value.as_bytes());
    }
    let files = if e.second_file { 2 } else { 1 };
    for _ in 0..files {
        part_start(&mut body);
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", e.field_name);
        if let Some(name) = &e.file_name {
            disposition.push_str(&format!("; filename=\"{name}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(nl);
        body.extend_from_slice(b"Content-Type: application/octet-stream");
        body.extend_from_slice(nl);
        body.extend_from_slice(nl);
        match e.boundary_in_content {
            Some(at) if !content.is_empty() => {
                let i = at.index(content.len());
                body.extend_from_slice(&content[..i]);
                body.extend_from_slice(nl);
                body.extend_from_slice(b"--");
                body.extend_from_slice(b);
                body.extend_from_slice(&content[i..]);
            }
            _ => body.extend_from_slice(content),
        }
    }
    body.extend_from_slice(nl);
    body.extend_from_slice(b"--");
    body.extend_from_slice(b);
    if e.close {
        body.extend_from_slice(b"--");
    }
    body.extend_from_slice(nl);
    body.extend_from_slice(&e.epilogue);
    let boundary = if e.quoted {
        format!("\"{}\"", e.boundary)
    } else {
        e.boundary.clone()
    };
    (format!("multipart/form-data; boundary={boundary}"), body)
}

proptest! {
    // Each case may run ffprobe: fewer cases than the pure targets, still a few seconds.
    #![proptest_config(fuzz_config(120))]

    #[test]
    fn fuzz_uploads_any_form_and_file_get_201_or_a_clean_4xx(
        envelope in envelope(),
        content in content(),
    ) {
        let (content_type, body) = wrap(&envelope, &content);
        if let Err(e) = check(&content_type, body) {
            return Err(TestCaseError::fail(format!("{envelope:?} with {} bytes: {e}", content.len())));
        }
    }

    #[test]
    fn fuzz_uploads_any_body_and_content_type_get_a_clean_4xx(
        content_type in prop_oneof![
            ".{0,60}",
            "multipart/form-data; boundary=.{0,20}",
            Just("multipart/form-data".to_owned()),
            Just("multipart/mixed; boundary=x".to_owned()),
        ],
        body in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        if let Err(e) = check(&content_type, body) {
            return Err(TestCaseError::fail(format!("{content_type:?}: {e}")));
        }
    }
}

/// The committed seeds: each file is sent as the one file of a well-formed form.
#[test]
fn fuzz_uploads_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/corpus/uploads");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz/corpus/uploads") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let e = Envelope {
            boundary: "corpus-boundary".into(),
            quoted: false,
            lf_only: false,
            preamble: Vec::new(),
            extra_field: None,
            second_file: false,
            file_name: Some("seed.bin".into()),
            field_name: "file".into(),
            boundary_in_content: None,
            close: true,
            epilogue: Vec::new(),
        };
        let (content_type, body) = wrap(&e, &bytes);
        if let Err(err) = check(&content_type, body) {
            panic!("{}: {err}", path.display());
        }
        seen += 1;
    }
    assert!(seen > 0, "the corpus is empty");
}
