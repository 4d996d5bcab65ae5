//! What runs without a network: keyword extraction, the ranking every source shares, the media
//! library's index and offline search over real files, and the user's uploads as a source.

use reelsmith_core::spec::{Aspect, Resolution};
use reelsmith_core::ErrorCode;
use reelsmith_stock::keywords::{extract, from_phrases, query, singular, STOP_WORDS};
use reelsmith_stock::rank::{rank, Attribution, Candidate, MediaKind, Source, Want};
use reelsmith_stock::{rank_uploads, Library, UploadDescriptor};
use std::path::Path;
use std::process::Command;

fn words(terms: &[reelsmith_stock::Term]) -> Vec<&str> {
    terms.iter().map(|t| t.word.as_str()).collect()
}

#[test]
fn keywords_keep_content_words_weighed_by_frequency_and_position() {
    let text = "The old lighthouse stands on a rocky beach. Waves crash against the lighthouse \
                quickly, and gulls circle at sunset.";
    let terms = extract(text, 20);
    let w = words(&terms);
    assert_eq!(w[0], "lighthouse", "twice, early and long: {terms:?}");
    for stop in ["the", "on", "a", "and", "at", "against"] {
        assert!(!w.contains(&stop), "{stop} is not a term: {w:?}");
    }
    assert!(
        w.contains(&"wave") && w.contains(&"gull"),
        "plurals fold: {w:?}"
    );
    assert_eq!(
        w.last(),
        Some(&"quickly"),
        "an adverb weighs less than every thing named: {terms:?}"
    );
    assert!(terms.windows(2).all(|p| p[0].weight >= p[1].weight));
    // Deterministic: the same text gives the same terms and weights.
    assert_eq!(extract(text, 20), terms);
    assert_eq!(extract(text, 2).len(), 2);
}

#[test]
fn a_chat_models_phrases_become_folded_terms_best_first() {
    let phrases: Vec<String> = ["Lighthouse keepers", "the spiral STAIRS", "lighthouse", "a"]
        .map(String::from)
        .into();
    let terms = from_phrases(&phrases, 10);
    assert_eq!(words(&terms), ["lighthouse", "keeper", "spiral", "stair"]);
    assert!(terms[0].weight == terms[1].weight && terms[1].weight > terms[2].weight);
    assert_eq!(
        words(&from_phrases(&phrases, 3)),
        ["lighthouse", "keeper", "spiral"]
    );
    assert!(from_phrases(&["the".into(), "of it".into()], 5).is_empty());
}

#[test]
fn the_stop_list_is_sorted_and_plurals_fold() {
    let mut sorted = STOP_WORDS.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted, STOP_WORDS,
        "sorted without repeats, for the binary search"
    );
    for (w, s) in [
        ("cities", "city"),
        ("boxes", "box"),
        ("dogs", "dog"),
        ("glass", "glass"),
        ("bus", "bus"),
        ("churches", "church"),
        ("famous", "famous"),
        ("basis", "basis"),
    ] {
        assert_eq!(singular(w), s, "{w}");
    }
}

#[test]
fn keywords_weigh_early_words_and_names_more() {
    let early = extract("Mountains rise above the valley", 5);
    assert_eq!(words(&early)[0], "mountain");
    let name = extract("We walked to the river near Paris with a camera", 5);
    assert_eq!(
        words(&name)[0],
        "paris",
        "a capitalised name mid-sentence: {name:?}"
    );
    assert!(extract("It is what it is, and so on.", 5).is_empty());
    assert!(extract("", 5).is_empty());
    assert!(extract("123 4567 ;; -- !!", 5).is_empty());
}

#[test]
fn the_query_holds_only_the_heaviest_words_within_the_limit() {
    let terms = extract(
        "Glaciers calve into the fjord while photographers watch glaciers",
        10,
    );
    assert_eq!(query(&terms, 3, 100).split(' ').count(), 3);
    assert_eq!(query(&terms, 3, 100).split(' ').next(), Some("glacier"));
    let q = query(&terms, 10, 20);
    assert!(q.len() <= 20, "{q}");
    assert!(query(&[], 3, 100).is_empty());
}

fn candidate(id: &str, w: u32, h: u32, words: &str, duration: Option<f64>) -> Candidate {
    Candidate {
        source: Source::Library,
        id: id.into(),
        kind: if duration.is_some() {
            MediaKind::Video
        } else {
            MediaKind::Photo
        },
        width: w,
        height: h,
        duration_s: duration,
        words: words.into(),
        location: id.into(),
        size_bytes: None,
        preview_url: None,
        attribution: Attribution {
            text: String::new(),
            author: "a".into(),
            author_url: None,
            source_url: None,
            provider: "Media library".into(),
            licence: "CC0".into(),
        },
    }
}

fn ids(r: &[reelsmith_stock::Ranked]) -> Vec<&str> {
    r.iter().map(|r| r.candidate.id.as_str()).collect()
}

#[test]
fn ranking_orders_by_terms_then_orientation_then_resolution_then_length() {
    let terms = extract("A lighthouse on the beach", 5);
    let portrait_720 = Want {
        aspect: Aspect::Portrait,
        resolution: Resolution::P720,
        scene_s: 5.0,
    };
    // Same words: the portrait one wins on orientation; of two portraits, the one that covers
    // 720x1280 without upscaling wins.
    let ranked = rank(
        vec![
            candidate("land", 1920, 1080, "beach, lighthouse", None),
            candidate("port-small", 360, 640, "beach, lighthouse", None),
            candidate("port-big", 1080, 1920, "beach, lighthouse", None),
        ],
        &terms,
        &portrait_720,
        true,
    );
    assert_eq!(ids(&ranked), ["port-big", "port-small", "land"]);
    assert!(ranked[0].score.orientation && ranked[0].score.resolution);
    assert!(ranked[1].score.orientation && !ranked[1].score.resolution);
    // Terms come first: matching both words beats a perfect shape matching one.
    let ranked = rank(
        vec![
            candidate("one-word", 1080, 1920, "beach", None),
            candidate("two-words", 1920, 1080, "lighthouse beach", None),
            candidate("none", 1080, 1920, "forest", None),
        ],
        &terms,
        &portrait_720,
        true,
    );
    assert_eq!(
        ids(&ranked),
        ["two-words", "one-word"],
        "no term, not offered"
    );
    // Clips: one that lasts the scene beats a shorter one; a photo always lasts.
    let ranked = rank(
        vec![
            candidate("short", 1080, 1920, "beach", Some(2.0)),
            candidate("long", 1080, 1920, "beach", Some(6.0)),
        ],
        &terms,
        &portrait_720,
        true,
    );
    assert_eq!(ids(&ranked), ["long", "short"]);
    assert!(!ranked[1].score.length);
    // Ties break by id, so the order never changes between runs.
    let tie = || {
        vec![
            candidate("b", 100, 100, "beach", None),
            candidate("a", 100, 100, "beach", None),
        ]
    };
    assert_eq!(ids(&rank(tie(), &terms, &portrait_720, true)), ["a", "b"]);
    // A provider's results are kept even when their words miss every term.
    assert_eq!(
        rank(
            vec![candidate("x", 10, 10, "", None)],
            &terms,
            &portrait_720,
            false
        )
        .len(),
        1
    );
}

fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg runs")
        .success();
    assert!(ok, "ffmpeg {args:?}");
}

fn picture(path: &Path, w: u32, h: u32) {
    image::RgbImage::from_pixel(w, h, image::Rgb([40, 90, 160]))
        .save(path)
        .unwrap();
}

fn clip(path: &Path, w: u32, h: u32, seconds: u32) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=size={w}x{h}:rate=10"),
        "-t",
        &seconds.to_string(),
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        path.to_str().unwrap(),
    ]);
}

/// One `[[item]]` of library.toml: its file, then its other lines.
fn item(file: &str, lines: &str) -> String {
    format!("[[item]]\nfile = \"{file}\"\n{lines}\n\n")
}

/// Four good entries, then one of each way an entry can be broken.
fn sidecar() -> String {
    let beach = "tags = [\"beach\"]\nauthor = \"x\"\nlicence = \"CC0-1.0\"";
    let waves =
        "description = \"Waves rolling onto a beach\"\nauthor = \"Sam Roe\"\nlicence = \"CC0-1.0\"";
    [
        item(
            "coast/sunset-wide.jpg",
            "title = \"Sunset over the bay\"\ntags = [\"sunset\", \"beach\", \"sea\"]\n\
             author = \"Jane Doe\"\nlicence = \"CC-BY-4.0\"\nsource = \"https://example.org/sunset\"",
        ),
        item(
            "coast/sunset-tall.png",
            "tags = [\"sunset\", \"beach\"]\nauthor = \"Jane Doe\"\nlicence = \"CC0-1.0\"",
        ),
        item("waves-short.mp4", waves),
        item("waves-long.mp4", waves),
        item("missing.jpg", beach),
        item("../outside.jpg", beach),
        item("broken.jpg", beach),
        item("anon.png", &beach.replace("\"x\"", "\" \"")),
        item("untagged.png", "author = \"x\"\nlicence = \"CC0-1.0\""),
        item("notes.txt", beach),
        item("coast/sunset-tall.png", &beach.replace("beach", "again")),
        item("linked.png", &format!("{beach}\nsource = \"ftp://example.org/x\"")),
    ]
    .concat()
}

fn library_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lib");
    std::fs::create_dir_all(root.join("coast")).unwrap();
    picture(&root.join("coast/sunset-wide.jpg"), 1920, 1080);
    picture(&root.join("coast/sunset-tall.png"), 720, 1280);
    for name in ["anon.png", "untagged.png", "linked.png", "stray.png"] {
        picture(&root.join(name), 64, 64);
    }
    picture(&dir.path().join("outside.jpg"), 64, 64);
    std::fs::write(root.join("broken.jpg"), b"not a jpeg at all").unwrap();
    std::fs::write(root.join("notes.txt"), b"beach notes").unwrap();
    clip(&root.join("waves-short.mp4"), 160, 90, 1);
    clip(&root.join("waves-long.mp4"), 160, 90, 3);
    std::fs::write(root.join("library.toml"), sidecar()).unwrap();
    dir
}

#[test]
fn the_library_indexes_good_entries_and_rejects_broken_ones_with_reasons() {
    let dir = library_folder();
    let lib = Library::index(&dir.path().join("lib")).unwrap();
    let mut good: Vec<&str> = lib.items.iter().map(|c| c.id.as_str()).collect();
    good.sort_unstable();
    assert_eq!(
        good,
        [
            "coast/sunset-tall.png",
            "coast/sunset-wide.jpg",
            "waves-long.mp4",
            "waves-short.mp4"
        ]
    );
    let reason = |file: &str| {
        lib.rejected
            .iter()
            .find(|r| r.file == file)
            .map(|r| r.reason.clone())
            .unwrap_or_else(|| panic!("{file} is not rejected: {:?}", lib.rejected))
    };
    assert!(reason("missing.jpg").contains("does not exist"));
    assert!(reason("../outside.jpg").contains("inside the library folder"));
    assert!(reason("broken.jpg").contains("not a readable image"));
    assert!(reason("anon.png").contains("`author` is empty"));
    assert!(reason("untagged.png").contains("no `tags`, `title` or `description`"));
    assert!(reason("notes.txt").contains("`.txt` is not a picture or clip type"));
    assert!(reason("linked.png").contains("not an http(s) link"));
    assert!(lib
        .rejected
        .iter()
        .any(|r| r.file == "coast/sunset-tall.png" && r.reason.contains("described twice")));
    assert_eq!(lib.rejected.len(), 8, "{:?}", lib.rejected);
    assert_eq!(
        lib.unlisted,
        ["stray.png"],
        "described nowhere, offered nowhere"
    );
    // Measured from the files themselves.
    let wide = lib
        .items
        .iter()
        .find(|c| c.id == "coast/sunset-wide.jpg")
        .unwrap();
    assert_eq!(
        (wide.width, wide.height, wide.kind),
        (1920, 1080, MediaKind::Photo)
    );
    assert_eq!(wide.attribution.author, "Jane Doe");
    assert_eq!(wide.attribution.licence, "CC-BY-4.0");
    assert_eq!(
        wide.attribution.source_url.as_deref(),
        Some("https://example.org/sunset")
    );
    assert_eq!(
        wide.attribution.text,
        "\"Sunset over the bay\" by Jane Doe, CC-BY-4.0"
    );
    let long = lib.items.iter().find(|c| c.id == "waves-long.mp4").unwrap();
    assert_eq!(long.kind, MediaKind::Video);
    assert!((long.duration_s.unwrap() - 3.0).abs() < 0.2, "{long:?}");
    assert_eq!(
        lib.path_of(long).unwrap(),
        lib.root().join("waves-long.mp4")
    );
}

#[test]
fn the_library_is_searched_offline_with_the_shared_ranking() {
    let dir = library_folder();
    let lib = Library::index(&dir.path().join("lib")).unwrap();
    let terms = extract(
        "The sun sets over a quiet beach; sunset colours the sea.",
        6,
    );
    let landscape = Want {
        aspect: Aspect::Landscape,
        resolution: Resolution::P1080,
        scene_s: 2.0,
    };
    let found = lib.search(&terms, &landscape);
    assert_eq!(
        ids(&found)[..2],
        ["coast/sunset-wide.jpg", "coast/sunset-tall.png"],
        "{found:?}"
    );
    let portrait = Want {
        aspect: Aspect::Portrait,
        resolution: Resolution::P720,
        scene_s: 2.0,
    };
    let found = lib.search(&extract("Sunset on the beach", 4), &portrait);
    assert_eq!(ids(&found)[0], "coast/sunset-tall.png", "{found:?}");
    // Clips: the one lasting the scene comes first.
    let waves = lib.search(&extract("Waves roll in", 4), &landscape);
    assert_eq!(ids(&waves), ["waves-long.mp4", "waves-short.mp4"]);
    assert!(lib
        .search(&extract("A snowy mountain", 4), &landscape)
        .is_empty());
}

#[test]
fn a_library_without_a_usable_sidecar_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let err = Library::index(&dir.path().join("nope")).unwrap_err();
    assert_eq!(err.code(), "stock.library_invalid");
    let err = Library::index(dir.path()).unwrap_err();
    assert!(err.to_string().contains("library.toml"), "{err}");
    std::fs::write(
        dir.path().join("library.toml"),
        "[[item]]\nfile = \"a.jpg\"\nauthor = \"x\"\nlicence = \"y\"\ncolour = \"red\"\n",
    )
    .unwrap();
    let err = Library::index(dir.path()).unwrap_err();
    assert_eq!(err.code(), "stock.library_invalid");
    assert!(
        err.to_string().contains("colour"),
        "unknown fields are named: {err}"
    );
}

#[test]
fn uploads_rank_like_every_other_source() {
    let upload = |id: &str, name: &str, w, h| UploadDescriptor {
        id: id.into(),
        file_name: name.into(),
        description: None,
        kind: MediaKind::Photo,
        width: w,
        height: h,
        duration_s: None,
        owner: "Robin".into(),
    };
    let uploads = vec![
        upload("u1", "beach-day.jpg", 1920, 1080),
        upload("u2", "beach_day_tall.jpg", 1080, 1920),
        upload("u3", "cat.jpg", 1080, 1920),
        UploadDescriptor {
            description: Some("our dog on the beach".into()),
            ..upload("u4", "IMG_0001.jpg", 1080, 1920)
        },
    ];
    let want = Want {
        aspect: Aspect::Portrait,
        resolution: Resolution::P1080,
        scene_s: 3.0,
    };
    let found = rank_uploads(&uploads, &extract("A day at the beach", 4), &want);
    assert_eq!(ids(&found), ["u2", "u1", "u4"], "{found:?}");
    assert_eq!(found[0].candidate.source, Source::Upload);
    assert_eq!(found[0].candidate.attribution.text, "Uploaded by Robin");
}
