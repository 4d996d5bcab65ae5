//! Operator-configurable bounds on what one render may consume. Every input is checked against
//! these before any expensive work starts.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest script accepted, in words.
    pub max_script_words: usize,
    /// Longest script accepted, in bytes (guards against one enormous "word").
    pub max_script_bytes: usize,
    /// Largest image accepted, in pixels (width × height), checked from the header before decoding.
    pub max_image_pixels: u64,
    /// Largest single input file, in bytes.
    pub max_file_bytes: u64,
    /// Longest video clip or voice recording accepted, in seconds.
    pub max_media_seconds: f64,
    /// Most frames a clip may have (guards against absurd frame rates).
    pub max_clip_frames: u64,
    /// Most media files in one render.
    pub max_media_files: usize,
    /// Longest output accepted, in seconds.
    pub max_output_seconds: f64,
    /// How many external programs (ffmpeg, ffprobe) may run at once in this process.
    pub max_concurrent_processes: usize,
    /// Longest any single external program may run before it is killed, in seconds.
    pub process_timeout_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_script_words: 5_000,
            max_script_bytes: 64 * 1024,
            max_image_pixels: 50_000_000,
            max_file_bytes: 512 * 1024 * 1024,
            max_media_seconds: 600.0,
            max_clip_frames: 60 * 600,
            max_media_files: 50,
            max_output_seconds: 1_800.0,
            max_concurrent_processes: 4,
            process_timeout_seconds: 1_800,
        }
    }
}
