//! Cue grouping and the caption files: order, timing bounds, measured line widths on every output
//! size, long words, and WebVTT/SRT that parse back (with our own strict reader and with ffmpeg).

use std::time::Duration;

use reelsmith_core::{Aspect, FrameSize, Resolution};
use reelsmith_media::captions::{build_cues, write_srt, write_vtt, CaptionLayout, Cue};
use reelsmith_media::process::{run_capture, FFMPEG};
use reelsmith_media::text::Font;
use reelsmith_media::timing::WordTiming;

/// Speech-like timings: a word lasts with its length, commas and full stops add pauses.
fn speak(text: &str) -> Vec<WordTiming> {
    let mut t = 0.25;
    let mut words = Vec::new();
    for w in text.split_whitespace() {
        let duration = 0.12 + 0.055 * w.chars().count() as f64;
        words.push(WordTiming::new(w, t, t + duration));
        t += duration + 0.04;
        if w.ends_with(['.', '!', '?']) {
            t += 0.45;
        } else if w.ends_with([',', ';', ':']) {
            t += 0.15;
        }
    }
    words
}

fn all_sizes() -> Vec<FrameSize> {
    let mut sizes = Vec::new();
    for r in [Resolution::P480, Resolution::P720, Resolution::P1080] {
        for a in [Aspect::Landscape, Aspect::Portrait, Aspect::Square] {
            sizes.push(r.frame_size(a));
        }
    }
    sizes
}

const ENGLISH: &str = "Reelsmith turns a script into a narrated video. Each scene gets its own \
    pictures, a voice, and captions that follow the words as they are spoken. The captions must \
    stay readable on a phone held upright, on a laptop, and on a television across the room, so \
    they are measured with the real font rather than counted in characters. Long sentences, \
    which go on and on with commas, clauses, and asides, still have to be broken somewhere \
    sensible; short ones should stand alone. Done!";
const GERMAN: &str = "Die Donaudampfschifffahrtsgesellschaftskapitänsmütze lag neben der \
    Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz-Akte auf dem Tisch. \
    Niemand wusste, warum.";
const RUSSIAN: &str = "Съешь же ещё этих мягких французских булок, да выпей чаю. \
    Широкая электрификация южных губерний даст мощный толчок подъёму сельского хозяйства.";
const WIDE: &str = "WWW MMM WWW MMM WWW MMM WWW MMM WWW MMM WWW MMM WWW MMM WWW MMM WWW MMM.";

fn check_invariants(words: &[WordTiming], cues: &[Cue], layout: &CaptionLayout, label: &str) {
    assert!(!cues.is_empty(), "{label}: no cues");
    let first = words.first().unwrap().start;
    let last = words.last().unwrap().end;
    for (k, cue) in cues.iter().enumerate() {
        assert!(
            cue.start <= cue.end,
            "{label}: cue {k} ends before it starts"
        );
        assert!(
            cue.start >= first && cue.end <= last,
            "{label}: cue {k} outside the words"
        );
        if let Some(next) = cues.get(k + 1) {
            assert!(cue.end <= next.start, "{label}: cue {k} overlaps the next");
        }
        assert!(
            cue.end - cue.start <= layout.max_cue_seconds + 1e-9,
            "{label}: cue {k} too long"
        );
        assert!(
            !cue.lines.is_empty() && cue.lines.len() <= 2,
            "{label}: cue {k} lines"
        );
        let indices: Vec<usize> = cue.lines.iter().flatten().copied().collect();
        assert_eq!(
            indices,
            (0..cue.words.len()).collect::<Vec<_>>(),
            "{label}: cue {k} words"
        );
        for w in &cue.words {
            assert!(w.start >= cue.start - 1e-9, "{label}: word before its cue");
        }
        for line in cue.line_texts() {
            let width = Font::caption().measure(&line, layout.font_px);
            assert!(
                width <= layout.max_line_width + 0.01,
                "{label}: {line:?} is {width} wide, limit {}",
                layout.max_line_width
            );
        }
    }
}

#[test]
fn cues_are_ordered_bounded_and_fit_every_output_size() {
    for size in all_sizes() {
        let layout = CaptionLayout::for_frame(size);
        // The limit leaves the outline and shadow inside the 90 % title-safe width.
        assert!(layout.max_line_width < size.width as f32 * 0.9);
        for (name, text) in [
            ("en", ENGLISH),
            ("de", GERMAN),
            ("ru", RUSSIAN),
            ("wide", WIDE),
        ] {
            let words = speak(text);
            let cues = build_cues(&words, &layout);
            check_invariants(&words, &cues, &layout, &format!("{name} {size:?}"));
        }
    }
}

#[test]
fn every_word_is_shown_once_in_order() {
    let layout = CaptionLayout::for_frame(FrameSize::new(1280, 720));
    let words = speak(ENGLISH);
    let cues = build_cues(&words, &layout);
    let shown: Vec<String> = cues
        .iter()
        .flat_map(|c| c.words.iter().map(|w| w.text.clone()))
        .collect();
    let expected: Vec<String> = words.iter().map(|w| w.text.clone()).collect();
    assert_eq!(shown, expected);
}

#[test]
fn a_long_german_compound_is_broken_not_overflowing_on_a_narrow_frame() {
    let size = Resolution::P480.frame_size(Aspect::Portrait);
    let layout = CaptionLayout::for_frame(size);
    let words = speak(GERMAN);
    let compound = "Donaudampfschifffahrtsgesellschaftskapitänsmütze";
    assert!(Font::caption().measure(compound, layout.font_px) > layout.max_line_width);
    let cues = build_cues(&words, &layout);
    check_invariants(&words, &cues, &layout, "de 480p 9:16");
    let pieces: Vec<&str> = cues
        .iter()
        .flat_map(|c| c.words.iter())
        .map(|w| w.text.as_str())
        .skip(1)
        .take_while(|w| w.ends_with('-'))
        .collect();
    assert!(
        !pieces.is_empty(),
        "the compound was broken into hyphenated pieces"
    );
    // Pieces of one word never share a line: each line holding a piece ends with it.
    for cue in &cues {
        for line in &cue.lines {
            for &i in &line[..line.len() - 1] {
                let text = &cue.words[i].text;
                assert!(!text.ends_with('-'), "{text} continues on the same line");
            }
        }
    }
    let rejoined: String = cues
        .iter()
        .flat_map(|c| c.words.iter())
        .map(|w| w.text.trim_end_matches('-'))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(rejoined.contains("Donaudampf"));
}

#[test]
fn short_sentences_get_their_own_cues() {
    let layout = CaptionLayout::for_frame(FrameSize::new(1920, 1080));
    let words =
        speak("The sun rose. Birds sang loudly. We walked to the river together. It was cold.");
    let cues = build_cues(&words, &layout);
    let ends: Vec<String> = cues
        .iter()
        .map(|c| c.words.last().unwrap().text.clone())
        .collect();
    assert_eq!(ends, ["rose.", "loudly.", "together.", "cold."]);
}

#[test]
fn long_sentences_break_at_clauses_and_stay_under_six_seconds() {
    let layout = CaptionLayout::for_frame(FrameSize::new(1280, 720));
    let words = speak(ENGLISH);
    let cues = build_cues(&words, &layout);
    let mut at_punctuation = 0;
    for cue in &cues[..cues.len() - 1] {
        if cue
            .words
            .last()
            .unwrap()
            .text
            .ends_with(['.', ',', ';', '!', '?'])
        {
            at_punctuation += 1;
        }
    }
    assert!(
        at_punctuation * 3 >= (cues.len() - 1) * 2,
        "only {at_punctuation} of {} cue ends at punctuation",
        cues.len() - 1
    );
}

#[test]
fn cues_last_at_least_the_minimum_where_the_next_cue_allows() {
    let layout = CaptionLayout::for_frame(FrameSize::new(1280, 720));
    // Quick isolated words separated by long pauses: each must still stay 0.7 s.
    let words: Vec<WordTiming> = (0..5)
        .map(|i| WordTiming::new(format!("Word{i}."), i as f64 * 2.0, i as f64 * 2.0 + 0.2))
        .collect();
    let cues = build_cues(&words, &layout);
    assert_eq!(cues.len(), 5);
    for cue in &cues[..4] {
        assert!((cue.end - cue.start - 0.7).abs() < 1e-9, "{cue:?}");
    }
    // The last cue cannot outlast the last word.
    assert!((cues[4].end - 8.2).abs() < 1e-9);
    // A very long single word is capped at six seconds.
    let slow = [WordTiming::new("Hmmmmm.", 1.0, 20.0)];
    let cues = build_cues(&slow, &layout);
    assert_eq!((cues[0].start, cues[0].end), (1.0, 7.0));
}

#[test]
fn broken_timings_do_not_panic_or_overlap() {
    let layout = CaptionLayout::for_frame(FrameSize::new(854, 480));
    let words = vec![
        WordTiming::new("one", 1.0, 0.5),
        WordTiming::new("two", f64::NAN, 2.0),
        WordTiming::new("three", 0.2, f64::INFINITY),
        WordTiming::new("🦀", 3.0, 3.5),
        WordTiming::new("four.", 3.0, 3.2),
    ];
    let cues = build_cues(&words, &layout);
    for pair in cues.windows(2) {
        assert!(pair[0].start <= pair[0].end && pair[0].end <= pair[1].start);
    }
    assert!(build_cues(&[], &layout).is_empty());
}

/// A strict reader for the subset we write: returns (start, end, text) per cue.
fn parse_cues(text: &str, vtt: bool) -> Vec<(f64, f64, String)> {
    let body = if vtt {
        text.strip_prefix("WEBVTT\n\n")
            .expect("WEBVTT header then a blank line")
    } else {
        text
    };
    let separator = if vtt { '.' } else { ',' };
    let mut out = Vec::new();
    for (n, block) in body.trim_end_matches('\n').split("\n\n").enumerate() {
        let mut lines = block.lines();
        if !vtt {
            assert_eq!(lines.next().unwrap(), (n + 1).to_string(), "SRT numbering");
        }
        let timing = lines.next().unwrap();
        let (a, b) = timing.split_once(" --> ").expect("timing arrow");
        let text: Vec<&str> = lines.collect();
        assert!(!text.is_empty() && text.iter().all(|l| !l.is_empty()));
        out.push((
            timestamp(a, separator),
            timestamp(b, separator),
            text.join("\n"),
        ));
    }
    out
}

fn timestamp(s: &str, separator: char) -> f64 {
    let (hms, ms) = s.split_once(separator).expect("millisecond separator");
    assert_eq!(ms.len(), 3);
    let parts: Vec<u64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts.len(), 3);
    assert!(parts[1] < 60 && parts[2] < 60);
    (parts[0] * 3600 + parts[1] * 60 + parts[2]) as f64 + ms.parse::<u64>().unwrap() as f64 / 1000.0
}

#[test]
fn vtt_and_srt_carry_the_same_cues_and_parse_back() {
    let layout = CaptionLayout::for_frame(FrameSize::new(720, 1280));
    let words = speak(&format!("{ENGLISH} Tom & Jerry <3 fish --> chips."));
    let cues = build_cues(&words, &layout);
    let vtt = parse_cues(&write_vtt(&cues), true);
    let srt = parse_cues(&write_srt(&cues), false);
    assert_eq!(vtt.len(), cues.len());
    assert_eq!(srt.len(), cues.len());
    for ((cue, v), s) in cues.iter().zip(&vtt).zip(&srt) {
        assert!((v.0 - cue.start).abs() <= 0.0005 && (v.1 - cue.end).abs() <= 0.0005);
        assert_eq!((v.0, v.1), (s.0, s.1));
        let plain = cue.line_texts().join("\n");
        assert_eq!(s.2, plain);
        let unescaped =
            v.2.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&");
        assert_eq!(unescaped, plain);
        assert!(!v.2.contains('<') && !v.2.contains("-->"));
    }
    assert!(write_vtt(&cues).contains("Tom &amp; Jerry &lt;3"));
}

#[test]
fn ffmpeg_reads_both_files_with_the_same_cue_count() {
    let layout = CaptionLayout::for_frame(FrameSize::new(1280, 720));
    let words = speak(ENGLISH);
    let cues = build_cues(&words, &layout);
    let dir = tempfile::tempdir().unwrap();
    for (name, demuxer, content) in [
        ("c.vtt", "webvtt", write_vtt(&cues)),
        ("c.srt", "srt", write_srt(&cues)),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        // Subtitle files are no media input: the demuxer is named, as every input's must be.
        let args = [
            "-hide_banner".into(),
            "-loglevel".into(),
            "error".into(),
            "-f".into(),
            demuxer.into(),
            "-i".into(),
            path.to_string_lossy().into_owned(),
            "-f".into(),
            "srt".into(),
            "pipe:1".into(),
        ];
        let out = run_capture(FFMPEG, args, Duration::from_secs(60), 1 << 20).unwrap();
        let converted = String::from_utf8(out).unwrap().replace("\r\n", "\n");
        let parsed = parse_cues(&converted, false);
        assert_eq!(parsed.len(), cues.len(), "{name}");
        for (cue, p) in cues.iter().zip(&parsed) {
            assert!(
                (p.0 - cue.start).abs() <= 0.0015,
                "{name}: {p:?} vs {cue:?}"
            );
        }
    }
}
