//! Fuzzing the caption writers (issue 23): any script, any word timings, any output size give
//! WebVTT and SRT files that a strict reader parses back into exactly the cues that are burned
//! in: one block per cue, numbered, well-formed timestamps, no blank line or arrow inside a cue,
//! the text unchanged but for VTT's escapes and the bidirectional controls.
//!
//! Property tests on stable (proptest): `PROPTEST_CASES` sets the number of cases (CI runs the
//! default, a few seconds); the seeds in `tests/fuzz/corpus/captions/` run first, and failures
//! proptest finds are kept in `proptest-regressions/` and replayed first ever after.
//! `scripts/fuzz` runs every target for longer (docs/benchmarks.md).

use proptest::prelude::*;
use reelsmith_core::FrameSize;
use reelsmith_media::captions::{build_cues, write_srt, write_vtt, CaptionLayout, Cue};
use reelsmith_media::text::strip_bidi_controls;
use reelsmith_media::timing::WordTiming;

#[path = "../../../tests/fuzz/config.rs"]
mod fuzz_settings;
use fuzz_settings::fuzz_config;

/// A strict reader: `(start, end, text lines)` per cue, or why the file is malformed.
fn parse(text: &str, vtt: bool) -> Result<Vec<(String, String, Vec<String>)>, String> {
    let body = if vtt {
        if text == "WEBVTT\n" {
            return Ok(Vec::new());
        }
        text.strip_prefix("WEBVTT\n\n")
            .ok_or("no WEBVTT header and blank line")?
    } else {
        text
    };
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let body = body
        .strip_suffix('\n')
        .ok_or("the file does not end with a line end")?;
    let mut out = Vec::new();
    for (n, block) in body.split("\n\n").enumerate() {
        let mut lines = block.split('\n');
        if !vtt {
            let number = lines.next().unwrap_or_default();
            if number != (n + 1).to_string() {
                return Err(format!("block {n}: number {number:?}"));
            }
        }
        let timing = lines.next().unwrap_or_default();
        let (a, b) = timing
            .split_once(" --> ")
            .ok_or_else(|| format!("block {n}: timing line {timing:?}"))?;
        for stamp in [a, b] {
            check_stamp(stamp, if vtt { '.' } else { ',' })
                .map_err(|e| format!("block {n}: {e}"))?;
        }
        let text: Vec<String> = lines.map(str::to_owned).collect();
        if text.is_empty() {
            return Err(format!("block {n}: a cue without text"));
        }
        for line in &text {
            if line.trim().is_empty() {
                return Err(format!("block {n}: a blank text line {line:?}"));
            }
            // WebVTT forbids the arrow in cue text; in SRT, a text line that reads as a timing
            // line starts a new cue for every lenient reader (ffmpeg's among them).
            let looks_timed = line.split_once(" --> ").is_some_and(|(a, b)| {
                check_stamp(a.trim(), ',').is_ok() && check_stamp(b.trim(), ',').is_ok()
            });
            if (vtt && line.contains("-->")) || (!vtt && looks_timed) {
                return Err(format!("block {n}: a timing arrow in the text {line:?}"));
            }
            if line.contains('\r') {
                return Err(format!("block {n}: a carriage return in the text"));
            }
        }
        out.push((a.to_owned(), b.to_owned(), text));
    }
    Ok(out)
}

fn check_stamp(stamp: &str, separator: char) -> Result<(), String> {
    let (hms, ms) = stamp
        .split_once(separator)
        .ok_or_else(|| format!("{stamp:?}: no millisecond separator"))?;
    let parts: Vec<&str> = hms.split(':').collect();
    let ok = ms.len() == 3
        && ms.bytes().all(|b| b.is_ascii_digit())
        && parts.len() == 3
        && parts
            .iter()
            .all(|p| p.len() >= 2 && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[1] < "60"
        && parts[2] < "60";
    if ok {
        Ok(())
    } else {
        Err(format!("{stamp:?}: malformed timestamp"))
    }
}

fn unescape_vtt(line: &str) -> String {
    line.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The checks every input must pass.
fn check(words: &[WordTiming], size: FrameSize) -> Result<(), String> {
    let layout = CaptionLayout::for_frame(size);
    let cues: Vec<Cue> = build_cues(words, &layout);
    for (vtt, file) in [(true, write_vtt(&cues)), (false, write_srt(&cues))] {
        let parsed = parse(&file, vtt).map_err(|e| format!("{e}\nin\n{file}"))?;
        if parsed.len() != cues.len() {
            return Err(format!(
                "{} cues written, {} read back from\n{file}",
                cues.len(),
                parsed.len()
            ));
        }
        for (cue, (_, _, text)) in cues.iter().zip(&parsed) {
            let expected: Vec<String> = cue
                .line_texts()
                .iter()
                .map(|l| strip_bidi_controls(l))
                .collect();
            let got: Vec<String> = if vtt {
                if text.iter().any(|l| l.contains('<') || l.contains('>')) {
                    return Err(format!("an unescaped tag character in {text:?}"));
                }
                text.iter().map(|l| unescape_vtt(l)).collect()
            } else {
                text.clone()
            };
            if got != expected {
                return Err(format!("cue text {got:?}, expected {expected:?}"));
            }
        }
    }
    Ok(())
}

/// Characters that have broken caption files elsewhere: markup, entities, arrows, digits that
/// look like cue numbers, bidirectional and zero-width controls, combining marks, emoji.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        2 => prop::sample::select(vec![
            '<', '>', '&', '-', ':', ',', '.', '0', '1', '9', ';', '#', '"', '\'', '/', '\\',
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{0301}', '\u{00AD}',
            'ß', 'ü', 'ł', 'ж', 'ع', 'א', '中', '🎬', '\u{1F3FD}', '\u{0}', '\u{7F}',
        ]),
        1 => any::<char>(),
    ]
}

/// A script made of words and the whitespace between them, as narration splits it.
fn script() -> impl Strategy<Value = String> {
    let word = prop::collection::vec(tricky_char(), 1..14)
        .prop_map(|cs| cs.into_iter().collect::<String>());
    let gap = prop::sample::select(vec![" ", "  ", "\n", "\r\n", "\t", "\u{A0}", "\u{2028}"]);
    prop::collection::vec((word, gap), 0..40).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(w, g)| format!("{w}{g}"))
            .collect::<String>()
    })
}

/// Speech-like timings for `script`, optionally scrambled as a broken aligner might give them.
fn timings(script: &str, durations: &[f64], scramble: bool) -> Vec<WordTiming> {
    let mut t = 0.0;
    script
        .split_whitespace()
        .enumerate()
        .map(|(i, w)| {
            let d = durations
                .get(i % durations.len().max(1))
                .copied()
                .unwrap_or(0.3);
            let (start, end) = if scramble && i % 3 == 1 {
                (t + d, t - d)
            } else {
                (t, t + d)
            };
            t += d.abs();
            WordTiming::new(w, start, end)
        })
        .collect()
}

fn frame() -> impl Strategy<Value = FrameSize> {
    prop::sample::select(vec![
        FrameSize::new(320, 180),
        FrameSize::new(180, 320),
        FrameSize::new(480, 480),
        FrameSize::new(1280, 720),
        FrameSize::new(720, 1280),
        FrameSize::new(1920, 1080),
    ])
}

proptest! {
    #![proptest_config(fuzz_config(300))]

    #[test]
    fn fuzz_captions_any_script_gives_well_formed_vtt_and_srt(
        script in script(),
        durations in prop::collection::vec(0.0f64..4.0, 1..8),
        scramble in any::<bool>(),
        size in frame(),
    ) {
        let words = timings(&script, &durations, scramble);
        if let Err(e) = check(&words, size) {
            return Err(TestCaseError::fail(format!("{script:?}: {e}")));
        }
    }
}

/// The committed seeds: each file's text is a script, its words timed evenly.
#[test]
fn fuzz_captions_corpus() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/corpus/captions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz/corpus/captions") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let script = String::from_utf8_lossy(&bytes);
        for size in [FrameSize::new(320, 180), FrameSize::new(720, 1280)] {
            let words = timings(&script, &[0.35, 0.1, 1.2], false);
            if let Err(e) = check(&words, size) {
                panic!("{}: {e}", path.display());
            }
        }
        seen += 1;
    }
    assert!(seen > 0, "the corpus is empty");
}
