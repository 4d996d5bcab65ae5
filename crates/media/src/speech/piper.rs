//! Piper neural voices, run by Piper's own runtime (PyPI `piper-tts`, which phonemizes with its
//! built-in espeak-ng and runs the VITS model with onnxruntime) as a supervised child process.
//! Decision D-voice-1 in docs/decisions.md says why a process rather than an ONNX binding.
//!
//! One process per narration loads the model once and speaks the script sentence by sentence
//! (`piper_driver.py` documents the pipe protocol). While it synthesizes sentence n+1 we align
//! sentence n: Piper gives audio only, so each sentence's words are timed by the forced aligner
//! ([`crate::align`]) against espeak-ng's reading of the same sentence, the aligner's proven use.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use md5::{Digest, Md5};

use super::voices::{SpeechConfig, SpeechEngine, VoiceInfo};
use super::SpeechError;
use crate::audio::AudioBuffer;
use crate::process::{Output, Process, Tool};

/// Official checksums of voices we know, from Piper's voice list (`voices.json`, `md5_digest`).
/// A voice in this table whose model does not match is corrupt; other voices may carry their own
/// `NAME.onnx.md5`, and a voice with neither is used unverified.
const KNOWN_MODELS: &[(&str, &str, Option<&str>)] = &[(
    "en_US-joe-medium",
    "74fd6a4dc39e0aa9dce145d7f5acd4f6",
    Some("male"),
)];

/// A whole narration's synthesis may take this long before the process is killed.
const SYNTHESIS_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The driver program, written beside the work so no file of ours must be installed.
const DRIVER: &str = include_str!("piper_driver.py");

/// A Piper voice found in the voice folder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PiperVoice {
    /// The model's file stem, `en_US-joe-medium`.
    pub name: String,
    pub model: PathBuf,
    pub config: PathBuf,
    /// espeak-ng's name for its language (`en-us`), from the config: the aligner's reference voice.
    pub espeak_voice: String,
    pub label: String,
    pub gender: Option<String>,
    /// Why it cannot be used, if so.
    pub problem: Option<String>,
}

impl PiperVoice {
    pub fn info(&self) -> VoiceInfo {
        VoiceInfo {
            id: format!("piper:{}", self.name),
            engine: SpeechEngine::Piper,
            language: self.espeak_voice.clone(),
            gender: self.gender.clone(),
            label: self.label.clone(),
            natural: true,
            problem: self.problem.clone(),
        }
    }
}

/// The voices of the configured folder, each checked (config readable, checksum right).
pub(crate) fn catalogue(config: &SpeechConfig) -> Vec<PiperVoice> {
    let Some(dir) = &config.piper_voices else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("onnx") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        out.push(inspect(name, &path));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn inspect(name: &str, model: &Path) -> PiperVoice {
    let config = PathBuf::from(format!("{}.json", model.display()));
    let known = KNOWN_MODELS.iter().find(|k| k.0 == name);
    let mut voice = PiperVoice {
        name: name.to_string(),
        model: model.to_path_buf(),
        config: config.clone(),
        espeak_voice: String::new(),
        label: name.to_string(),
        gender: known.and_then(|k| k.2.map(str::to_string)),
        problem: None,
    };
    match read_config(&config) {
        Ok((espeak_voice, label)) => {
            voice.espeak_voice = espeak_voice;
            voice.label = label;
        }
        Err(why) => {
            voice.problem = Some(why);
            return voice;
        }
    }
    let expected = known.map(|k| k.1.to_string()).or_else(|| {
        std::fs::read_to_string(format!("{}.md5", model.display()))
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_lowercase))
    });
    if let Some(expected) = expected {
        match model_md5(model) {
            Ok(actual) if actual == expected => {}
            Ok(actual) => {
                voice.problem = Some(format!(
                    "the model is corrupt: its MD5 is {actual}, the official one {expected}"
                ))
            }
            Err(e) => voice.problem = Some(format!("the model cannot be read: {e}")),
        }
    }
    voice
}

/// `(espeak voice, label)` from a voice's `.onnx.json`.
fn read_config(path: &Path) -> Result<(String, String), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("its config {} cannot be read: {e}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("its config is not JSON: {e}"))?;
    let espeak = json["espeak"]["voice"]
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or("its config names no espeak voice (`espeak.voice`)")?;
    let dataset = json["dataset"].as_str().unwrap_or("voice");
    let mut label = capitalise(dataset);
    if let Some(lang) = json["language"]["name_english"].as_str() {
        match json["language"]["country_english"].as_str() {
            Some(country) => label.push_str(&format!(" ({lang}, {country})")),
            None => label.push_str(&format!(" ({lang})")),
        }
    }
    Ok((espeak.to_lowercase(), label))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// MD5 of a model file, remembered by path, size and modification time: a 60 MB model is
/// hashed once per process, and again only when the file changes.
fn model_md5(path: &Path) -> std::io::Result<String> {
    type Digests = HashMap<(PathBuf, u64, SystemTime), String>;
    static CACHE: Mutex<Option<Digests>> = Mutex::new(None);
    let meta = std::fs::metadata(path)?;
    let key = (path.to_path_buf(), meta.len(), meta.modified()?);
    if let Some(hit) = CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(&key)
    {
        return Ok(hit.clone());
    }
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, digest.clone());
    Ok(digest)
}

/// Whether the Piper runtime can be started: Err with the reason otherwise.
pub(crate) fn runtime_ready(config: &SpeechConfig) -> Result<(), String> {
    if config.piper_python.is_file() {
        Ok(())
    } else {
        Err(format!(
            "the Piper runtime is not installed ({} is missing; scripts/setup installs it); \
             espeak-ng speaks instead",
            config.piper_python.display()
        ))
    }
}

/// `Tool` names its program with a `&'static str`; the interpreter's path comes from settings,
/// so each distinct path is interned once.
fn python_tool(path: &Path) -> Tool {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let wanted = path.display().to_string();
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    let program = match names.iter().find(|n| **n == wanted) {
        Some(n) => *n,
        None => {
            let leaked: &'static str = Box::leak(wanted.into_boxed_str());
            names.push(leaked);
            leaked
        }
    };
    Tool {
        program,
        package: "piper-tts (PyPI; scripts/setup installs it)",
    }
}

/// A running Piper voice: the model is loaded; sentences go in, audio comes out.
pub(crate) struct Session {
    process: Process,
    stdout: BufReader<std::process::ChildStdout>,
    pub sample_rate: u32,
    /// The driver program's file; removed when the session ends.
    _driver: tempfile::TempPath,
}

impl Session {
    pub fn start(voice: &PiperVoice, config: &SpeechConfig) -> Result<Session, SpeechError> {
        let mut driver = tempfile::Builder::new()
            .prefix("reelsmith-piper-")
            .suffix(".py")
            .tempfile()
            .map_err(|e| SpeechError::Engine(format!("cannot write the Piper driver: {e}")))?;
        driver
            .write_all(DRIVER.as_bytes())
            .map_err(|e| SpeechError::Engine(format!("cannot write the Piper driver: {e}")))?;
        let driver = driver.into_temp_path();
        let mut process = Process::spawn(
            python_tool(&config.piper_python),
            [
                driver.as_os_str(),
                voice.model.as_os_str(),
                voice.config.as_os_str(),
            ],
            true,
            Output::Piped,
            SYNTHESIS_TIMEOUT,
        )
        .map_err(|e| SpeechError::Engine(format!("cannot start Piper: {e}")))?;
        let stdout = process
            .take_stdout()
            .ok_or_else(|| SpeechError::Engine("Piper's output is not piped".into()))?;
        let stdout = BufReader::new(stdout);
        let mut session = Session {
            process,
            stdout,
            sample_rate: 0,
            _driver: driver,
        };
        let ready = session.read_header()?;
        if ready["ready"].as_bool() != Some(true) {
            return Err(SpeechError::Engine(format!(
                "Piper did not start: {}",
                ready["error"].as_str().unwrap_or("no reason given")
            )));
        }
        session.sample_rate = ready["rate"].as_u64().unwrap_or(22_050) as u32;
        Ok(session)
    }

    /// Sends every sentence at once (from a writer thread, so a long script never fills the
    /// pipe while we wait), then hands each sentence's audio to `each` as it arrives: the caller
    /// works on sentence n while Piper speaks sentence n+1.
    pub fn speak_all(
        mut self,
        sentences: &[String],
        length_scale: f64,
        mut each: impl FnMut(usize, AudioBuffer) -> Result<(), SpeechError>,
    ) -> Result<(), SpeechError> {
        let mut stdin = self
            .process
            .take_stdin()
            .ok_or_else(|| SpeechError::Engine("Piper's input is not piped".into()))?;
        let lines: Vec<String> = sentences
            .iter()
            .map(|s| {
                serde_json::json!({ "text": s, "length_scale": length_scale }).to_string() + "\n"
            })
            .collect();
        let writer = std::thread::spawn(move || {
            for line in lines {
                if stdin.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
            // Dropping stdin ends the driver's loop once the last sentence is spoken.
        });
        let mut result = Ok(());
        for i in 0..sentences.len() {
            let audio = match self.read_audio() {
                Ok(a) => a,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            if let Err(e) = each(i, audio) {
                result = Err(e);
                break;
            }
        }
        if result.is_err() {
            // Dropping the process kills it, which also unblocks the writer.
            drop(self.process);
            let _ = writer.join();
            return result;
        }
        let _ = writer.join();
        self.process
            .wait()
            .map_err(|e| SpeechError::Engine(format!("Piper failed: {e}")))
    }

    fn read_header(&mut self) -> Result<serde_json::Value, SpeechError> {
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .map_err(|e| SpeechError::Engine(format!("reading from Piper: {e}")))?;
        if n == 0 {
            return Err(SpeechError::Engine(
                "Piper stopped without answering (is `piper-tts` installed in its Python?)"
                    .to_string(),
            ));
        }
        serde_json::from_str(&line)
            .map_err(|e| SpeechError::Engine(format!("Piper answered `{}`: {e}", line.trim())))
    }

    fn read_audio(&mut self) -> Result<AudioBuffer, SpeechError> {
        let header = self.read_header()?;
        if let Some(error) = header["error"].as_str() {
            return Err(SpeechError::Engine(format!("Piper failed: {error}")));
        }
        let samples = header["samples"]
            .as_u64()
            .ok_or_else(|| SpeechError::Engine(format!("Piper answered `{header}`")))?
            as usize;
        if samples > super::espeak::MAX_SAMPLES {
            return Err(SpeechError::Engine("Piper produced too much audio".into()));
        }
        let mut bytes = vec![0u8; samples * 2];
        self.stdout
            .read_exact(&mut bytes)
            .map_err(|e| SpeechError::Engine(format!("reading Piper's audio: {e}")))?;
        Ok(AudioBuffer {
            samples: bytes
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
                .collect(),
            sample_rate: self.sample_rate,
        })
    }
}
