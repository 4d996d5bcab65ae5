//! The libespeak-ng binding. The library is opened at run time with `libloading` rather than
//! linked, so Reelsmith builds on machines without it and reports a clear error instead of
//! failing to start. The declarations follow espeak-ng's `speak_lib.h` (API revision 12).
//!
//! espeak-ng keeps its state in globals and is not thread-safe, so every use goes through one
//! process-wide mutex. It also keeps state between messages that it never resets (the phase of
//! its pitch flutter is a function-level static), so the same text would come out slightly
//! different on every call. For narration that a retried job reproduces exactly, each use loads
//! the library afresh, initialises it, and terminates and unloads it afterwards: a few tens of
//! milliseconds for bit-identical output.
//!
//! The library runs in synchronous mode: `espeak_Synth` synthesises on the calling thread and
//! hands audio and events to our callback before it returns. The callback therefore finds its
//! collector in a thread-local, and never unwinds into C (a panic is caught and turned into
//! "abort synthesis").

// The workspace denies `unsafe_code`; this module needs it because this is an FFI binding to libespeak-ng; every call is `unsafe` by nature.
// Each block says why it is sound in its `SAFETY:` comment (clippy checks they are there).
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_short, c_uint, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use super::SpeechError;

/// The shared object name of the Debian package `libespeak-ng1`.
const LIBRARY_NAME: &str = "libespeak-ng.so.1";

const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
const INITIALIZE_DONT_EXIT: c_int = 0x8000;
const CHARS_UTF8: c_uint = 1;
const POS_CHARACTER: c_int = 1;
const PARAMETER_RATE: c_int = 1;
const PARAMETER_PITCH: c_int = 3;
const EE_OK: c_int = 0;
const EE_NOT_FOUND: c_int = 2;

const EVENT_LIST_TERMINATED: c_int = 0;
const EVENT_WORD: c_int = 1;
const EVENT_SENTENCE: c_int = 2;
const EVENT_END: c_int = 5;
const EVENT_MSG_TERMINATED: c_int = 6;

/// Callback return values: 0 continues synthesis, 1 aborts it.
const CONTINUE: c_int = 0;
const ABORT: c_int = 1;

/// The most audio one synthesis may produce (one hour at 22 050 Hz); a script that long is
/// refused upstream, so hitting this means something is wrong and we stop rather than fill memory.
pub(crate) const MAX_SAMPLES: usize = 22_050 * 3_600;

/// `espeak_EVENT`.
#[repr(C)]
struct RawEvent {
    kind: c_int,
    unique_identifier: c_uint,
    /// 1-based character position in the input text.
    text_position: c_int,
    /// Word length in characters (for word events).
    length: c_int,
    /// Milliseconds from the start of this message's audio.
    audio_position: c_int,
    sample: c_int,
    user_data: *mut c_void,
    id: RawEventId,
}

/// The `id` union of `espeak_EVENT`; only its size and alignment matter to us.
#[repr(C)]
union RawEventId {
    _number: c_int,
    _name: *const c_char,
    _string: [c_char; 8],
}

/// `espeak_VOICE`.
#[repr(C)]
struct RawVoice {
    name: *const c_char,
    /// Pairs of (priority byte, NUL-terminated language name), ended by an empty name.
    languages: *const c_char,
    identifier: *const c_char,
    gender: u8,
    age: u8,
    variant: u8,
    xx1: u8,
    score: c_int,
    spare: *mut c_void,
}

type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut RawEvent) -> c_int;

/// The entry points we use, resolved once from the loaded library.
struct Api {
    set_voice_by_name: unsafe extern "C" fn(*const c_char) -> c_int,
    set_voice_by_properties: unsafe extern "C" fn(*mut RawVoice) -> c_int,
    terminate: unsafe extern "C" fn() -> c_int,
    set_parameter: unsafe extern "C" fn(c_int, c_int, c_int) -> c_int,
    #[allow(clippy::type_complexity)]
    synth: unsafe extern "C" fn(
        *const c_void,
        usize,
        c_uint,
        c_int,
        c_uint,
        c_uint,
        *mut c_uint,
        *mut c_void,
    ) -> c_int,
    list_voices: unsafe extern "C" fn(*mut RawVoice) -> *mut *const RawVoice,
    sample_rate: u32,
    /// Whether `espeak_Initialize` succeeded, so `espeak_Terminate` is due.
    initialized: bool,
    /// Kept last so the function pointers above never outlive the mapping.
    _library: libloading::Library,
}

/// Held while the library is loaded: only one thread may use it at a time.
static ENGINE_LOCK: Mutex<()> = Mutex::new(());

/// What the engine reported while speaking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    Word,
    Sentence,
    End,
    MessageTerminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EngineEvent {
    pub kind: EventKind,
    /// 0-based character position in the input text.
    pub char_position: usize,
    /// Length in characters (word events only).
    pub char_len: usize,
    /// Position in the audio, in samples from its start.
    pub sample: usize,
}

/// The raw result of one synthesis: 16-bit mono samples and the engine's events, in order.
#[derive(Debug)]
pub(crate) struct RawSpeech {
    pub samples: Vec<i16>,
    pub sample_rate: u32,
    pub events: Vec<EngineEvent>,
}

/// What the callback gathers during one `espeak_Synth` call.
#[derive(Default)]
struct Collector {
    samples: Vec<i16>,
    events: Vec<EngineEvent>,
    sample_rate: u32,
    overflowed: bool,
}

thread_local! {
    static COLLECTOR: RefCell<Option<Collector>> = const { RefCell::new(None) };
}

/// Speaks `text` with the named voice at `rate` words per minute and `pitch` (0-99).
pub(crate) fn speak(
    text: &str,
    voice: &str,
    rate: u32,
    pitch: u32,
) -> Result<RawSpeech, SpeechError> {
    // Interior NULs would end the C string early; they are never speakable anyway.
    let text = CString::new(text.replace('\0', " "))
        .map_err(|_| SpeechError::InvalidSettings("the text holds a NUL character".into()))?;
    let voice_name =
        CString::new(voice).map_err(|_| SpeechError::UnknownVoice(voice.to_string()))?;
    with_engine(|api| speak_with(api, &text, voice, &voice_name, rate, pitch))
}

fn speak_with(
    api: &Api,
    text: &CString,
    voice: &str,
    voice_name: &CString,
    rate: u32,
    pitch: u32,
) -> Result<RawSpeech, SpeechError> {
    select_voice(api, voice, voice_name)?;
    // SAFETY: the engine lock is held by our caller; parameters are plain integers.
    unsafe {
        // Parameters after the voice: selecting a voice resets them.
        check(
            (api.set_parameter)(PARAMETER_RATE, rate as c_int, 0),
            "setting the rate",
        )?;
        check(
            (api.set_parameter)(PARAMETER_PITCH, pitch as c_int, 0),
            "setting the pitch",
        )?;
    }
    COLLECTOR.with(|c| {
        *c.borrow_mut() = Some(Collector {
            sample_rate: api.sample_rate,
            ..Collector::default()
        })
    });
    let bytes = text.as_bytes_with_nul();
    // SAFETY: the engine lock is held; the text is NUL-terminated and outlives the call. In
    // synchronous mode the callback runs on this thread before `synth` returns, so the
    // collector it fills is the one installed just now.
    let status = unsafe {
        (api.synth)(
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            POS_CHARACTER,
            0,
            CHARS_UTF8,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    let collected = COLLECTOR
        .with(|c| c.borrow_mut().take())
        .ok_or_else(|| SpeechError::Engine("espeak-ng's sample collector went missing".into()))?;
    if collected.overflowed {
        return Err(SpeechError::Engine(
            "the narration is longer than one hour".into(),
        ));
    }
    check(status, "synthesis")?;
    Ok(RawSpeech {
        samples: collected.samples,
        sample_rate: collected.sample_rate,
        events: collected.events,
    })
}

/// Selects a voice by name or file identifier (`en-us`, `gmw/en-US`) or, as the espeak-ng
/// command does, by language (`en-gb`), which is how most languages are named.
fn select_voice(api: &Api, voice: &str, voice_name: &CString) -> Result<(), SpeechError> {
    // SAFETY: the engine lock is held; the name is NUL-terminated and outlives both calls, and
    // the selector is a fully initialised espeak_VOICE that the library only reads.
    let code = unsafe {
        match (api.set_voice_by_name)(voice_name.as_ptr()) {
            EE_NOT_FOUND => {
                let mut selector = RawVoice {
                    name: std::ptr::null(),
                    languages: voice_name.as_ptr(),
                    identifier: std::ptr::null(),
                    gender: 0,
                    age: 0,
                    variant: 0,
                    xx1: 0,
                    score: 0,
                    spare: std::ptr::null_mut(),
                };
                (api.set_voice_by_properties)(&mut selector)
            }
            code => code,
        }
    };
    match code {
        EE_OK => Ok(()),
        EE_NOT_FOUND => Err(SpeechError::UnknownVoice(voice.to_string())),
        code => Err(SpeechError::Engine(format!(
            "setting voice `{voice}` failed ({code})"
        ))),
    }
}

/// The language names the installed voices speak (`en-us`, `fr-fr`, `ru`, ...): the names
/// `espeak_SetVoiceByName` accepts and that fit [`reelsmith_core::TtsSettings::voice`].
pub(crate) fn voice_languages() -> Result<Vec<String>, SpeechError> {
    let mut names = with_engine(|api| Ok(list_languages(api)))?;
    names.sort();
    names.dedup();
    Ok(names)
}

/// Each installed voice's languages with the voice's gender (`male`, `female`, or None).
pub(crate) fn voice_entries() -> Result<Vec<(String, Option<String>)>, SpeechError> {
    with_engine(|api| {
        let mut out = Vec::new();
        // SAFETY: as in `list_languages`.
        unsafe {
            let list = (api.list_voices)(std::ptr::null_mut());
            if list.is_null() {
                return Ok(out);
            }
            let mut cursor = list;
            while !(*cursor).is_null() {
                let voice = &**cursor;
                let gender = match voice.gender {
                    1 => Some("male".to_string()),
                    2 => Some("female".to_string()),
                    _ => None,
                };
                for name in languages_of(voice.languages) {
                    out.push((name, gender.clone()));
                }
                cursor = cursor.add(1);
            }
        }
        Ok(out)
    })
}

fn list_languages(api: &Api) -> Vec<String> {
    let mut names = Vec::new();
    // SAFETY: the mutex is held; the returned array is NULL-terminated and owned by the library,
    // valid until the next call, and we copy everything out before releasing the lock.
    unsafe {
        let list = (api.list_voices)(std::ptr::null_mut());
        if list.is_null() {
            return names;
        }
        let mut cursor = list;
        while !(*cursor).is_null() {
            let voice = &**cursor;
            names.extend(languages_of(voice.languages));
            cursor = cursor.add(1);
        }
    }
    names
}

/// Reads the `languages` field: (priority byte, name, NUL) repeated until an empty name.
///
/// # Safety
/// `field` must be NULL or point to a list in the layout `speak_lib.h` documents.
unsafe fn languages_of(field: *const c_char) -> Vec<String> {
    let mut out = Vec::new();
    if field.is_null() {
        return out;
    }
    let mut cursor = field;
    loop {
        // Skip the priority byte; a zero byte here ends the list.
        if *cursor == 0 {
            break;
        }
        cursor = cursor.add(1);
        let name = CStr::from_ptr(cursor);
        let len = name.to_bytes().len();
        if len == 0 {
            break;
        }
        out.push(name.to_string_lossy().into_owned());
        cursor = cursor.add(len + 1);
    }
    out
}

fn check(code: c_int, what: &str) -> Result<(), SpeechError> {
    if code == EE_OK {
        Ok(())
    } else {
        Err(SpeechError::Engine(format!(
            "espeak-ng {what} failed ({code})"
        )))
    }
}

/// Runs `work` with a freshly loaded and initialised engine, holding the engine lock, then
/// terminates and unloads it (see the module doc for why).
fn with_engine<T>(work: impl FnOnce(&Api) -> Result<T, SpeechError>) -> Result<T, SpeechError> {
    // A panic elsewhere while holding the lock leaves nothing behind: the library is unloaded
    // by `Api`'s drop during unwinding.
    let _guard = ENGINE_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let api = load(LIBRARY_NAME)?;
    work(&api)
}

impl Drop for Api {
    fn drop(&mut self) {
        if self.initialized {
            // SAFETY: the engine lock is held wherever an `Api` exists (only `with_engine` makes
            // one); terminating frees the library's buffers before the library itself is unloaded.
            unsafe {
                (self.terminate)();
            }
        }
    }
}

fn load(name: &str) -> Result<Api, SpeechError> {
    // SAFETY: loading espeak-ng runs no initialisers with preconditions of ours.
    let library = unsafe { libloading::Library::new(name) }
        .map_err(|e| SpeechError::EngineMissing(e.to_string()))?;
    // SAFETY: each symbol is declared with the signature `speak_lib.h` gives it.
    unsafe {
        let initialize: unsafe extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int =
            *symbol(&library, b"espeak_Initialize\0")?;
        let set_synth_callback: unsafe extern "C" fn(Option<SynthCallback>) =
            *symbol(&library, b"espeak_SetSynthCallback\0")?;
        let mut api = Api {
            set_voice_by_name: *symbol(&library, b"espeak_SetVoiceByName\0")?,
            set_voice_by_properties: *symbol(&library, b"espeak_SetVoiceByProperties\0")?,
            terminate: *symbol(&library, b"espeak_Terminate\0")?,
            set_parameter: *symbol(&library, b"espeak_SetParameter\0")?,
            synth: *symbol(&library, b"espeak_Synth\0")?,
            list_voices: *symbol(&library, b"espeak_ListVoices\0")?,
            sample_rate: 0,
            initialized: false,
            _library: library,
        };
        // DONT_EXIT: without it a missing data folder makes the library call exit().
        let rate = initialize(
            AUDIO_OUTPUT_SYNCHRONOUS,
            0,
            std::ptr::null(),
            INITIALIZE_DONT_EXIT,
        );
        if rate <= 0 {
            return Err(SpeechError::EngineMissing(format!(
                "espeak_Initialize failed ({rate}): its voice data (espeak-ng-data) may be missing"
            )));
        }
        api.initialized = true;
        api.sample_rate = rate as u32;
        set_synth_callback(Some(on_synth));
        Ok(api)
    }
}

/// # Safety
/// `T` must be the symbol's true type.
unsafe fn symbol<'l, T>(
    library: &'l libloading::Library,
    name: &[u8],
) -> Result<libloading::Symbol<'l, T>, SpeechError> {
    library.get(name).map_err(|e| {
        SpeechError::EngineMissing(format!(
            "{LIBRARY_NAME} has no {}: {e}",
            String::from_utf8_lossy(&name[..name.len() - 1])
        ))
    })
}

/// Receives audio blocks and the events inside them from `espeak_Synth`.
unsafe extern "C" fn on_synth(wav: *mut c_short, count: c_int, events: *mut RawEvent) -> c_int {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        COLLECTOR.with(|cell| {
            let mut cell = cell.borrow_mut();
            let Some(collector) = cell.as_mut() else {
                return ABORT; // synthesis we did not start: refuse it
            };
            // espeak-ng passes `count` samples at `wav`, and an event list ended by
            // LIST_TERMINATED, both valid for the duration of this call.
            let block = if wav.is_null() || count <= 0 {
                &[][..]
            } else {
                // SAFETY: `wav` is non-null and holds `count` (> 0) samples for this call.
                unsafe { std::slice::from_raw_parts(wav, count as usize) }
            };
            let block_start = collector.samples.len();
            if block_start + block.len() > MAX_SAMPLES {
                collector.overflowed = true;
                return ABORT;
            }
            collector.samples.extend_from_slice(block);
            let mut cursor = events;
            while !cursor.is_null() {
                // SAFETY: `cursor` is non-null and inside the list, which lasts for this call.
                let event = unsafe { &*cursor };
                if event.kind == EVENT_LIST_TERMINATED {
                    break;
                }
                if let Some(event) = convert(event, collector.sample_rate) {
                    collector.events.push(event);
                }
                // SAFETY: the event was not the terminator, so the next one is in the list.
                cursor = unsafe { cursor.add(1) };
            }
            CONTINUE
        })
    }));
    outcome.unwrap_or(ABORT)
}

/// Our view of an event, or `None` for kinds we do not use (marks, phonemes, ...).
fn convert(event: &RawEvent, sample_rate: u32) -> Option<EngineEvent> {
    let kind = match event.kind {
        EVENT_WORD => EventKind::Word,
        EVENT_SENTENCE => EventKind::Sentence,
        EVENT_END => EventKind::End,
        EVENT_MSG_TERMINATED => EventKind::MessageTerminated,
        _ => return None,
    };
    Some(EngineEvent {
        kind,
        char_position: (event.text_position.max(1) - 1) as usize,
        char_len: event.length.max(0) as usize,
        sample: event_sample(event, sample_rate),
    })
}

/// The event's exact sample offset. espeak-ng fills `sample` with the running count of samples
/// it has generated for this message, which is exact, while `audio_position` is that count
/// rounded down to whole milliseconds; we use `sample` when it agrees with `audio_position`
/// and fall back to the millisecond figure if a library version ever leaves it unset.
fn event_sample(event: &RawEvent, sample_rate: u32) -> usize {
    let from_ms = event.audio_position.max(0) as f64 * sample_rate as f64 / 1000.0;
    let exact = event.sample.max(0) as f64;
    let one_ms = sample_rate as f64 / 1000.0;
    if event.sample > 0 && (exact - from_ms).abs() <= 2.0 * one_ms {
        exact as usize
    } else {
        from_ms.round() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelsmith_core::ErrorCode;

    #[test]
    fn a_library_that_is_not_there_is_reported_as_missing() {
        let _guard = ENGINE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let err = load("libespeak-ng-reelsmith-absent.so.1").err().unwrap();
        assert_eq!(err.code(), "speech.engine_missing");
        let message = err.to_string();
        assert!(message.contains("libespeak-ng1"), "{message}");
        assert!(
            message.contains("libespeak-ng-reelsmith-absent.so.1"),
            "{message}"
        );
    }

    #[test]
    fn word_events_carry_character_and_sample_positions() {
        let speech = speak("One two three.", "en-us", 175, 50).unwrap();
        let words: Vec<_> = speech
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Word)
            .collect();
        assert_eq!(words.len(), 3);
        assert_eq!(
            words
                .iter()
                .map(|w| (w.char_position, w.char_len))
                .collect::<Vec<_>>(),
            [(0, 3), (4, 3), (8, 5)]
        );
        assert!(words.windows(2).all(|w| w[0].sample < w[1].sample));
        assert!(words.last().unwrap().sample < speech.samples.len());
    }
}
