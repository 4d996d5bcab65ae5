//! Sidecar caption files from the same cues that are burned in: WebVTT for the web player and SRT
//! for everything else. Only the timestamp syntax and escaping differ: WebVTT cue text is parsed
//! for tags and character references, so `&`, `<` and `>` must be escaped (which also keeps a
//! literal `-->` out of the payload); SRT has no escaping and is written as is.

use std::fmt::Write as _;

use super::cues::Cue;
use crate::text::strip_bidi_controls;

pub fn write_vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for cue in cues {
        let _ = write!(
            out,
            "\n{} --> {}\n",
            timestamp(cue.start, '.'),
            timestamp(cue.end, '.')
        );
        for line in cue.line_texts() {
            out.push_str(&escape_vtt(&strip_bidi_controls(&line)));
            out.push('\n');
        }
    }
    out
}

pub fn write_srt(cues: &[Cue]) -> String {
    let mut out = String::new();
    for (n, cue) in cues.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let _ = write!(
            out,
            "{}\n{} --> {}\n",
            n + 1,
            timestamp(cue.start, ','),
            timestamp(cue.end, ',')
        );
        for line in cue.line_texts() {
            out.push_str(&strip_bidi_controls(&line));
            out.push('\n');
        }
    }
    out
}

/// `HH:MM:SS<sep>mmm`, rounded to the millisecond; hours grow past two digits if they must.
fn timestamp(seconds: f64, separator: char) -> String {
    let millis = if seconds.is_finite() {
        (seconds.max(0.0) * 1000.0).round() as u64
    } else {
        0
    };
    let (h, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    format!("{h:02}:{m:02}:{s:02}{separator}{ms:03}")
}

fn escape_vtt(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_to_milliseconds() {
        assert_eq!(timestamp(0.0, '.'), "00:00:00.000");
        assert_eq!(timestamp(3725.0004, ','), "01:02:05,000");
        assert_eq!(timestamp(59.9996, '.'), "00:01:00.000");
        assert_eq!(timestamp(-1.0, '.'), "00:00:00.000");
    }

    /// P-IN-3: a right-to-left override in a script cannot reorder the captions: neither the
    /// sidecar files nor the burned-in text keep any bidi control.
    #[test]
    fn bidi_overrides_and_isolates_are_stripped_from_captions() {
        use crate::captions::{build_cues, CaptionLayout};
        use crate::timing::WordTiming;
        let texts = [
            "invoice\u{202E}fdp.exe",
            "\u{202A}left\u{202C}",
            "\u{202B}right\u{202D}",
            "\u{2066}iso\u{2067}late\u{2068}d\u{2069}",
        ];
        let words: Vec<WordTiming> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| WordTiming {
                text: (*t).to_owned(),
                start: i as f64,
                end: i as f64 + 0.8,
            })
            .collect();
        let layout = CaptionLayout::for_frame(reelsmith_core::FrameSize {
            width: 1280,
            height: 720,
        });
        let cues = build_cues(&words, &layout);
        assert!(!cues.is_empty());
        let drawn: String = cues.iter().flat_map(|c| c.line_texts()).collect();
        for file in [write_vtt(&cues), write_srt(&cues), drawn] {
            assert!(!file.chars().any(crate::text::is_bidi_control), "{file:?}");
            assert!(file.contains("invoicefdp.exe"), "{file:?}");
            assert!(file.contains("isolated"), "{file:?}");
        }
    }

    #[test]
    fn vtt_escapes_markup_characters() {
        assert_eq!(escape_vtt("a<b & c-->d"), "a&lt;b &amp; c--&gt;d");
    }
}
