//! One still frame of a spec's look, drawn by the render's own code (issue 25): the studio's
//! live caption preview shows exactly what the render will burn in.
//!
//! The frame is a designed title scene's background (the spec's seed, title background, colour
//! style and camera motion) with the spec's captions over it, at `seconds` into a scene whose
//! narration is the spec's script read at an even, typical pace (0.35 s a word), so karaoke
//! highlights the word a reader would be on. Nothing is narrated and nothing is written to disk.

use reelsmith_core::{CaptionMode, Code, ErrorCode, Limits, RenderSpec, SpecError};

use crate::captions::{build_cues, CaptionLayout, CaptionRenderer, CaptionStyle};
use crate::compose::{resolve_motion, ComposeError, Compositor, SceneSpec, SceneVisual};
use crate::frame::Yuv420Frame;
use crate::text::{Font, FontError};
use crate::timing::WordTiming;

/// Seconds between the starts of two words in the preview's even reading.
pub const WORD_SECONDS: f64 = 0.35;
/// The latest time a preview may show.
pub const MAX_SECONDS: f64 = 60.0;
/// The longest sample text, in characters.
pub const MAX_TEXT_CHARS: usize = 500;
const LEAD_IN: f64 = 0.3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewFormat {
    Png,
    Jpeg,
}

impl PreviewFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            PreviewFormat::Png => "image/png",
            PreviewFormat::Jpeg => "image/jpeg",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Font(#[from] FontError),
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error("the preview time must be between 0 and {MAX_SECONDS} seconds")]
    InvalidTime,
    #[error("the preview text is longer than {MAX_TEXT_CHARS} characters")]
    TextTooLong,
    #[error("the preview image could not be encoded: {0}")]
    Encode(String),
}

impl ErrorCode for PreviewError {
    fn code(&self) -> Code {
        match self {
            PreviewError::Spec(e) => e.code(),
            PreviewError::Font(e) => e.code(),
            PreviewError::Compose(e) => e.code(),
            PreviewError::InvalidTime => Code::PreviewInvalidTime,
            PreviewError::TextTooLong => Code::PreviewTextTooLong,
            PreviewError::Encode(_) => Code::ComposeInternal,
        }
    }

    fn is_client_error(&self) -> bool {
        match self {
            PreviewError::Spec(e) => e.is_client_error(),
            PreviewError::Font(e) => e.is_client_error(),
            PreviewError::Compose(e) => e.is_client_error(),
            PreviewError::InvalidTime | PreviewError::TextTooLong => true,
            PreviewError::Encode(_) => false,
        }
    }
}

/// The frame at `seconds`, in yuv420p (see the module documentation).
pub fn preview_frame(
    spec: &RenderSpec,
    seconds: f64,
    limits: &Limits,
) -> Result<Yuv420Frame, PreviewError> {
    spec.validate(limits)?;
    if !(0.0..=MAX_SECONDS).contains(&seconds) {
        return Err(PreviewError::InvalidTime);
    }
    if spec.script.chars().count() > MAX_TEXT_CHARS {
        return Err(PreviewError::TextTooLong);
    }
    let font = match &spec.caption_style.font {
        Some(name) => Font::named_for_text(name, &spec.script)?,
        None => Font::for_text(&spec.script)?,
    };
    let words: Vec<WordTiming> = spec
        .script
        .split_whitespace()
        .enumerate()
        .map(|(k, w)| {
            let start = LEAD_IN + k as f64 * WORD_SECONDS;
            WordTiming::new(w.to_string(), start, start + WORD_SECONDS * 0.85)
        })
        .collect();
    let spoken = words.last().map_or(0.0, |w| w.end);
    let size = spec.frame_size();
    let frame_index = (seconds * spec.fps as f64).floor() as u64;
    let scene = SceneSpec {
        visual: SceneVisual::Designed {
            seed: spec.seed,
            background: spec.title_background,
        },
        motion: resolve_motion(spec.motion, 0, spec.seed),
        duration: (spoken + 0.5).max(seconds + 1.0),
        transition: None,
    };
    let mut compositor = Compositor::new(size, spec.fps, spec.style, vec![scene], 0.0, limits)?;
    compositor.seek(frame_index);
    let mut frame = Yuv420Frame::black(size);
    compositor.render_next(&mut frame)?;
    let kind = match spec.captions {
        CaptionMode::Off => None,
        CaptionMode::Subtitle => Some(CaptionStyle::Subtitle),
        CaptionMode::Karaoke => Some(CaptionStyle::Karaoke),
    };
    if let Some(kind) = kind {
        let layout = CaptionLayout::for_style(size, font, &spec.caption_style);
        let cues = build_cues(&words, &layout);
        let mut captions = CaptionRenderer::new(cues, layout, kind).styled(&spec.caption_style);
        let t = frame_index as f64 / spec.fps as f64;
        if let Some(overlay) = captions.overlay_at(t) {
            frame.blend(overlay);
        }
    }
    Ok(frame)
}

/// [`preview_frame`], encoded as a PNG or a JPEG.
pub fn preview_image(
    spec: &RenderSpec,
    seconds: f64,
    format: PreviewFormat,
    limits: &Limits,
) -> Result<Vec<u8>, PreviewError> {
    let frame = preview_frame(spec, seconds, limits)?;
    let size = frame.size();
    let rgb = frame_to_rgb(&frame);
    let image = image::RgbImage::from_raw(size.width, size.height, rgb)
        .ok_or_else(|| PreviewError::Encode("the frame does not match its size".into()))?;
    let mut out = std::io::Cursor::new(Vec::new());
    let result = match format {
        PreviewFormat::Png => image.write_to(&mut out, image::ImageFormat::Png),
        PreviewFormat::Jpeg => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&image)
        }
    };
    result.map_err(|e| PreviewError::Encode(e.to_string()))?;
    Ok(out.into_inner())
}

/// BT.709 limited-range yuv420p to full-range RGB, as a player shows it (chroma repeated over
/// each 2×2 block).
pub fn frame_to_rgb(frame: &Yuv420Frame) -> Vec<u8> {
    let size = frame.size();
    let (w, h) = (size.width as usize, size.height as usize);
    let (y, u, v) = frame.planes();
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        for col in 0..w {
            let c = (row / 2) * (w / 2) + col / 2;
            let yy = (y[row * w + col] as f32 - 16.0) * (255.0 / 219.0);
            let cb = (u[c] as f32 - 128.0) * (255.0 / 224.0);
            let cr = (v[c] as f32 - 128.0) * (255.0 / 224.0);
            let r = yy + 1.5748 * cr;
            let g = yy - 0.1873 * cb - 0.4681 * cr;
            let b = yy + 1.8556 * cb;
            rgb.extend([r, g, b].map(|x| x.round().clamp(0.0, 255.0) as u8));
        }
    }
    rgb
}
