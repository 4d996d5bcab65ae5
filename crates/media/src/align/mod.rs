//! Forced alignment: when is each word of a known script heard in a recording of it?
//!
//! The approach is aeneas's: speak the script with espeak-ng, whose word timings in its own
//! audio are exact (see [`crate::speech`]), then find how the synthetic audio's time maps onto
//! the recording's and carry each word boundary across that map.
//!
//! 1. Refuse recordings with no speech in them ([`crate::audio::voiced_seconds`]: silence,
//!    hiss, hum and tones never pass), before any synthesis.
//! 2. Trim leading and trailing silence from both signals, so the map's ends are pinned to the
//!    first and last sounds.
//! 3. Compare the lengths: a recording far shorter or longer than the script needs cannot be a
//!    reading of it (`voice.mismatch`). Otherwise speak the script again at the recording's
//!    own pace (its words-per-minute estimated from that length ratio), because the warping
//!    path is most reliable when the two signals run at the same speed.
//! 4. Compute normalised MFCCs of both ([`mfcc`]) and the minimum-cost warping path between
//!    them ([`dtw`], multi-resolution with a bounded corridor, so a 10-minute recording needs
//!    memory linear in its length).
//! 5. Each synthetic word start and end goes through the path into recording time, and words are
//!    kept in order, non-overlapping and inside the recording.

mod dtw;
mod mfcc;
pub mod transcript;

use reelsmith_core::{Code, ErrorCode, TtsSettings};

use crate::audio::{sound_bounds, voiced_seconds, AudioBuffer};
use crate::speech::{synthesize, Narration, SpeechError, SpeechWord};

/// Less voiced speech than this (seconds) is no speech at all.
const MIN_VOICED_SECONDS: f64 = 0.25;
/// The recording's sound may last between these multiples of the synthetic reading's.
/// espeak-ng at 175 wpm against readers from 80 to 450 wpm, with pauses, fits comfortably.
const LENGTH_RATIO: std::ops::RangeInclusive<f64> = 0.3..=3.5;
/// Shortest span given to a word whose boundaries the path squeezed together.
const MIN_WORD_SECONDS: f64 = 0.02;

#[derive(Debug, thiserror::Error)]
pub enum AlignError {
    #[error("the recording contains no speech")]
    NoSpeech,
    #[error(
        "the recording does not fit the script: it has {recording_seconds:.1} s of sound, \
         while reading the script takes about {expected_seconds:.1} s"
    )]
    Mismatch {
        recording_seconds: f64,
        expected_seconds: f64,
    },
    #[error(transparent)]
    Speech(#[from] SpeechError),
}

impl ErrorCode for AlignError {
    fn code(&self) -> Code {
        match self {
            AlignError::NoSpeech => Code::VoiceNoSpeech,
            AlignError::Mismatch { .. } => Code::VoiceMismatch,
            AlignError::Speech(e) => e.code(),
        }
    }

    fn is_client_error(&self) -> bool {
        match self {
            AlignError::NoSpeech | AlignError::Mismatch { .. } => true,
            AlignError::Speech(e) => e.is_client_error(),
        }
    }
}

/// The words of `text` (as [`synthesize`] splits them) timed in `recording`. `tts` gives the
/// language of the synthetic reference (its voice) and its starting rate and pitch.
pub fn align(
    text: &str,
    recording: &AudioBuffer,
    tts: &TtsSettings,
) -> Result<Vec<SpeechWord>, AlignError> {
    if voiced_seconds(recording) < MIN_VOICED_SECONDS {
        return Err(AlignError::NoSpeech);
    }
    let recorded = Sound::of(recording);
    let first = synthesize(text, tts)?;
    let ratio = recorded.seconds() / Sound::of(&first.audio).seconds();
    if !LENGTH_RATIO.contains(&ratio) {
        return Err(AlignError::Mismatch {
            recording_seconds: recorded.seconds(),
            expected_seconds: Sound::of(&first.audio).seconds(),
        });
    }
    let reference = at_recording_pace(text, tts, first, ratio)?;
    let spoken = Sound::of(&reference.audio);
    let features_spoken = mfcc::mfcc(&spoken.audio);
    let features_recorded = mfcc::mfcc(&recorded.audio);
    if features_spoken.is_empty() || features_recorded.is_empty() {
        return Err(AlignError::NoSpeech);
    }
    let path = dtw::warp(&features_spoken, &features_recorded);
    let map = TimeMap::new(
        &path,
        features_spoken.hop_seconds,
        features_recorded.hop_seconds,
    );
    let words = reference
        .words
        .iter()
        .map(|word| SpeechWord {
            start: recorded.offset + map.carry(word.start - spoken.offset),
            end: recorded.offset + map.carry(word.end - spoken.offset),
            ..word.clone()
        })
        .collect();
    Ok(tidy(words, recording.duration()))
}

/// Re-speaks the script at the pace `ratio` says the reader used, unless it already is close.
fn at_recording_pace(
    text: &str,
    tts: &TtsSettings,
    first: Narration,
    ratio: f64,
) -> Result<Narration, SpeechError> {
    let rate = (tts.rate as f64 / ratio).round() as u32;
    let rate = rate.clamp(
        *reelsmith_core::spec::TTS_RATE_RANGE.start(),
        *reelsmith_core::spec::TTS_RATE_RANGE.end(),
    );
    if rate.abs_diff(tts.rate) * 20 < tts.rate {
        return Ok(first); // within 5%: not worth a second synthesis
    }
    let paced = TtsSettings {
        rate,
        ..tts.clone()
    };
    synthesize(text, &paced)
}

/// The part of a signal between its first and last sound.
struct Sound {
    audio: AudioBuffer,
    /// Where that part starts in the whole signal, in seconds.
    offset: f64,
}

impl Sound {
    fn of(audio: &AudioBuffer) -> Sound {
        let (start, end) = sound_bounds(audio);
        Sound {
            audio: audio.slice(start, end),
            offset: start as f64 / audio.sample_rate.max(1) as f64,
        }
    }

    fn seconds(&self) -> f64 {
        self.audio.duration()
    }
}

/// Synthetic time → recording time, along a warping path.
struct TimeMap {
    /// For each synthetic frame, the recording frames matched to it: the mean of the first and
    /// last, so a pause in one signal only is split evenly between the words around it.
    matched: Vec<f64>,
    hop_from: f64,
    hop_to: f64,
}

impl TimeMap {
    fn new(path: &dtw::Path, hop_from: f64, hop_to: f64) -> TimeMap {
        let frames = path.last().map_or(0, |&(i, _)| i + 1);
        let mut first = vec![usize::MAX; frames];
        let mut last = vec![0usize; frames];
        for &(i, j) in path {
            first[i] = first[i].min(j);
            last[i] = last[i].max(j);
        }
        let matched = first
            .iter()
            .zip(&last)
            .map(|(&f, &l)| (f + l) as f64 / 2.0)
            .collect();
        TimeMap {
            matched,
            hop_from,
            hop_to,
        }
    }

    /// Recording time (from its first sound) of synthetic time `seconds` (from its first
    /// sound), interpolating between frames.
    fn carry(&self, seconds: f64) -> f64 {
        let last = self.matched.len().saturating_sub(1);
        let position = (seconds / self.hop_from).clamp(0.0, last as f64);
        let below = position.floor() as usize;
        let above = (below + 1).min(last);
        let fraction = position - below as f64;
        let frame = self.matched[below] * (1.0 - fraction) + self.matched[above] * fraction;
        frame * self.hop_to
    }
}

/// Keeps words in order, non-overlapping, at least [`MIN_WORD_SECONDS`] long where there is
/// room, and inside `0..duration`.
fn tidy(mut words: Vec<SpeechWord>, duration: f64) -> Vec<SpeechWord> {
    let mut floor = 0.0f64;
    for word in &mut words {
        word.start = word.start.clamp(floor, duration);
        word.end = word.end.clamp(word.start, duration);
        if word.end - word.start < MIN_WORD_SECONDS {
            word.end = (word.start + MIN_WORD_SECONDS).min(duration);
        }
        floor = word.end;
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(start: f64, end: f64) -> SpeechWord {
        SpeechWord {
            text: "w".into(),
            char_offset: 0,
            char_len: 1,
            start,
            end,
        }
    }

    #[test]
    fn tidy_orders_separates_and_bounds() {
        let words = tidy(vec![word(-0.5, 0.3), word(0.2, 0.2), word(0.9, 1.5)], 1.2);
        assert_eq!((words[0].start, words[0].end), (0.0, 0.3));
        assert!((words[1].start - 0.3).abs() < 1e-9 && words[1].end > words[1].start);
        assert!(words[2].start >= words[1].end && words[2].end <= 1.2);
    }

    #[test]
    fn the_time_map_interpolates_along_the_path() {
        // Synthetic frames 0..3 matched to recording frames twice as far apart.
        let path = vec![
            (0, 0),
            (0, 1),
            (1, 2),
            (1, 3),
            (2, 4),
            (2, 5),
            (3, 6),
            (3, 7),
        ];
        let map = TimeMap::new(&path, 0.01, 0.01);
        assert!((map.carry(0.0) - 0.005).abs() < 1e-9);
        assert!((map.carry(0.015) - 0.035).abs() < 1e-9);
        assert!(
            (map.carry(1.0) - 0.065).abs() < 1e-9,
            "clamped to the last frame"
        );
    }
}
