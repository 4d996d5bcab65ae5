//! Fuzzing the job spec parser (issue 23): the JSON of `POST /api/v1/jobs` and
//! `reelsmith render --spec` becomes a `RenderSpec`, is validated, and its script is planned into
//! scenes. For any input: no panic; a refused spec is refused with a stable code; an accepted
//! one survives a JSON round trip unchanged, and its plan is consistent (every word's span in
//! the narration text is that word, media indices in range, no scene without words).
//!
//! Property tests on stable (proptest): `PROPTEST_CASES` sets the number of cases; the seeds in
//! `tests/fuzz/corpus/spec/` run first; failures are kept in `proptest-regressions/`.

use proptest::prelude::*;
use reelsmith_core::{ErrorCode, Limits, RenderSpec};
use reelsmith_media::plan::plan;
use serde_json::{json, Map, Value};

#[path = "../../../tests/fuzz/config.rs"]
mod fuzz_settings;
use fuzz_settings::fuzz_config;

fn check_bytes(bytes: &[u8]) -> Result<(), String> {
    let Ok(spec) = serde_json::from_slice::<RenderSpec>(bytes) else {
        return Ok(());
    };
    check_spec(spec)
}

fn check_spec(spec: RenderSpec) -> Result<(), String> {
    let limits = Limits::default();
    if let Err(e) = spec.validate(&limits) {
        let code = e.code().as_str();
        if code.is_empty() || !code.contains('.') || !e.is_client_error() {
            return Err(format!(
                "refused without a stable client code: {code:?} {e}"
            ));
        }
        return Ok(());
    }
    let text = serde_json::to_vec(&spec).map_err(|e| e.to_string())?;
    let back: RenderSpec = serde_json::from_slice(&text).map_err(|e| format!("round trip: {e}"))?;
    if back != spec {
        return Err(format!(
            "round trip changed the spec: {spec:?} became {back:?}"
        ));
    }
    let Ok(plan) = plan(&spec.script, spec.media.len()) else {
        return Ok(()); // Nothing speakable: the planner's own stable refusal.
    };
    for (k, scene) in plan.scenes.iter().enumerate() {
        if scene.words.is_empty() {
            return Err(format!("scene {k} has no words"));
        }
        let chars: Vec<char> = scene.speech_text.chars().collect();
        for word in &scene.words {
            let span: String = chars
                .get(word.chars.clone())
                .ok_or_else(|| format!("scene {k}: span {:?} outside the text", word.chars))?
                .iter()
                .collect();
            if span != word.display {
                return Err(format!(
                    "scene {k}: span reads {span:?}, word is {:?}",
                    word.display
                ));
            }
            if word.display.is_empty() || word.display.chars().any(char::is_whitespace) {
                return Err(format!("scene {k}: word {:?}", word.display));
            }
        }
        if let Some(m) = scene.media {
            if m >= spec.media.len() {
                return Err(format!("scene {k}: media {m} of {}", spec.media.len()));
            }
        }
    }
    Ok(())
}

/// Scripts with markdown, links, emoji, odd whitespace and punctuation runs.
fn script() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-zA-Z]{1,12}",
        1 => prop::sample::select(vec![
            "**", "_", "[", "](", ")", "https://example.org/a?b=c", "www.x.y", "#", "> ", "- ",
            "1.", "...", "!?", ",", ";", ":", "—", "🎬", "👩\u{200D}👩\u{200D}👧", "\u{202E}",
            "\u{2028}", "\u{A0}", "\t", "\n", "\n\n", "\r\n", "  ", " ", "`", "~~", "<b>", "&amp;",
        ]).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|p| p.concat())
}

/// A spec-shaped JSON object: known fields with values of any type, sometimes an unknown one.
fn spec_json() -> impl Strategy<Value = Value> {
    let any_value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::from),
        prop::collection::vec(".{0,8}", 0..5).prop_map(|v| json!(v)),
    ];
    let field = prop::sample::select(vec![
        "media",
        "voice",
        "aspect",
        "resolution",
        "fps",
        "motion",
        "style",
        "captions",
        "tts",
        "seed",
        "provider",
        "model",
        "prompt",
        "negative_prompt",
        "prompts",
        "voice_instructions",
        "music",
        "music_level",
        "unknown_field",
    ]);
    let known = prop_oneof![
        Just(("aspect", json!("portrait"))),
        Just(("resolution", json!("480p"))),
        Just(("fps", json!(24))),
        Just(("captions", json!("off"))),
        Just(("tts", json!({ "voice": "en-gb", "rate": 200, "pitch": 40 }))),
        Just(("provider", json!("fal"))),
        Just(("music_level", json!(-12))),
        Just(("music", json!("library:harbour"))),
        Just(("media", json!(["a", "b", "c"]))),
    ];
    (
        script(),
        prop::collection::vec((field, any_value), 0..6),
        prop::collection::vec(known, 0..4),
    )
        .prop_map(|(script, random, known)| {
            let mut map = Map::new();
            map.insert("script".into(), Value::from(script));
            for (k, v) in known.into_iter().chain(random) {
                map.insert(k.into(), v);
            }
            Value::Object(map)
        })
}

proptest! {
    #![proptest_config(fuzz_config(400))]

    #[test]
    fn fuzz_spec_any_json_object_parses_validates_and_plans(value in spec_json()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        if let Err(e) = check_bytes(&bytes) {
            return Err(TestCaseError::fail(format!("{value}: {e}")));
        }
    }

    #[test]
    fn fuzz_spec_any_bytes_are_refused_or_handled(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Err(e) = check_bytes(&bytes) {
            return Err(TestCaseError::fail(format!("{bytes:?}: {e}")));
        }
    }

    #[test]
    fn fuzz_spec_any_script_plans_consistently(script in script(), media in 0usize..5) {
        let mut spec = RenderSpec::new(script);
        spec.media = (0..media).map(|i| format!("m{i}")).collect();
        if let Err(e) = check_spec(spec.clone()) {
            return Err(TestCaseError::fail(format!("{:?}: {e}", spec.script)));
        }
    }
}

/// The committed seeds: each file is a request body.
#[test]
fn fuzz_spec_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/corpus/spec");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz/corpus/spec") {
        let path = entry.unwrap().path();
        if let Err(e) = check_bytes(&std::fs::read(&path).unwrap()) {
            panic!("{}: {e}", path.display());
        }
        seen += 1;
    }
    assert!(seen > 0, "the corpus is empty");
}
