//! `bench-render voice`: the natural voice against espeak-ng on one ~200-word script, in one run.
//! Real-time factor (synthesis wall time over audio length, including Piper's sentence-by-sentence
//! forced alignment) and intelligibility: the word error rate of PocketSphinx's stock en-us model
//! (PyPI `pocketsphinx`, in the Piper venv; scripts/setup --test installs it) on each reading.

use std::path::Path;
use std::time::Instant;

use reelsmith_core::TtsSettings;
use reelsmith_media::audio::write_wav;
use reelsmith_media::speech::speak;
use reelsmith_media::speech::voices::SpeechConfig;

pub const SCRIPT: &str = "Every morning the old harbour comes back to life before the sun is \
    up. Fishermen walk down the stone steps with coffee in their hands, check the weather one \
    more time, and start the engines of their small boats. The gulls follow them out past the \
    lighthouse, hoping for an easy breakfast. By nine o'clock the market square is full of \
    voices. Farmers sell bread, cheese, honey and fresh vegetables from wooden tables, and \
    children run between the stalls looking for sweets. An old man plays the accordion near the \
    fountain, and a few tourists stop to take pictures of the colourful houses. At noon the \
    boats return, heavy with fish, and the whole town seems to gather on the quay to watch them \
    unload. Prices are shouted, deals are made, and the best of the catch goes straight to the \
    restaurants along the water. In the afternoon the streets grow quiet. Shops close for a \
    long lunch, cats sleep in the shade, and the only sound is the wind in the masts. When the \
    evening comes, the lights along the harbour turn on one by one, and people walk slowly by \
    the sea, talking about the day and about the weather tomorrow.";

const RECOGNIZER: &str = r#"
import sys, wave
from pocketsphinx import Decoder
for path in sys.argv[1:]:
    w = wave.open(path, "rb")
    d = Decoder(samprate=w.getframerate())
    d.start_utt()
    d.process_raw(w.readframes(w.getnframes()), full_utt=True)
    d.end_utt()
    print(d.hyp().hypstr if d.hyp() else "")
"#;

pub fn run(dir: &Path) {
    let installed = SpeechConfig::installed();
    let words = SCRIPT.split_whitespace().count();
    println!("# Voices: real-time factor and intelligibility ({words}-word script)");
    println!(
        "commit: {}",
        std::env::var("REELSMITH_COMMIT").unwrap_or_default()
    );
    let mut rows = Vec::new();
    for (label, voice) in [
        ("Piper (default when installed)", "en-us"),
        ("espeak-ng", "espeak:en-us"),
    ] {
        let tts = TtsSettings {
            voice: voice.into(),
            ..TtsSettings::default()
        };
        let started = Instant::now();
        let spoken = speak(SCRIPT, &tts, &installed).expect("the voice speaks");
        let wall = started.elapsed().as_secs_f64();
        let seconds = spoken.narration.audio.duration();
        let wav = dir.join(format!("{}.wav", voice.replace(':', "_")));
        write_wav(&wav, &spoken.narration.audio).unwrap();
        let wav16 = dir.join(format!("{}-16k.wav", voice.replace(':', "_")));
        super::ffmpeg(&[
            "-i",
            wav.to_str().unwrap(),
            "-ar",
            "16000",
            "-ac",
            "1",
            wav16.to_str().unwrap(),
        ]);
        rows.push((
            label,
            spoken.voice,
            wall,
            seconds,
            wav16,
            spoken.notes.len(),
        ));
    }
    let python = installed.piper_python.clone();
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(RECOGNIZER)
        .args(rows.iter().map(|r| r.4.as_os_str()))
        .output()
        .expect("the Piper venv's Python runs (scripts/setup --test)");
    assert!(
        out.status.success(),
        "pocketsphinx failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hypotheses: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    println!();
    println!("| voice | id | synthesis wall time | audio | real-time factor | PocketSphinx WER | sentences timed evenly |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (row, hyp) in rows.iter().zip(&hypotheses) {
        let wer = word_error_rate(SCRIPT, hyp);
        println!(
            "| {} | `{}` | {:.2} s | {:.1} s | {:.3} | {:.2} | {} |",
            row.0,
            row.1,
            row.2,
            row.3,
            row.2 / row.3,
            wer,
            row.5
        );
    }
}

fn normalise(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word-level Levenshtein distance over the reference's length.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let r = normalise(reference);
    let h = normalise(hypothesis);
    let mut row: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, hw) in h.iter().enumerate() {
            let substitution = diagonal + usize::from(rw != hw);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[h.len()] as f64 / r.len().max(1) as f64
}
