//! The frame compositor: turns a list of scenes (stills, clips, title cards) into the film's
//! yuv420p frames, in order, ready to be piped to the encoder.
//!
//! How it works, and why it is fast:
//! - Each scene is prepared once, when it first becomes visible: a still or card is fitted to the
//!   frame's shape (`fill`), resized once with Lanczos3 to the resolution its camera motion needs,
//!   converted to yuv420p planes and colour-graded (`style`). A clip starts one ffmpeg process that
//!   streams frames already shaped to that canvas (`clip`). Prepared scenes are dropped as soon as
//!   they are no longer visible, so memory holds at most two.
//! - Per frame, the only work is a separable fixed-point bilinear warp of the canvas at the
//!   camera's exact sub-pixel position (`sample`, `motion`), plus a blend during crossfades
//!   (`timeline`), plus a table lookup for graded clips. No rounding of the camera to whole pixels,
//!   so motion is smooth; no per-frame resizing, so it is cheap.
//! - Deterministic: no clocks, threads or hash maps decide anything, so the same scenes and seed
//!   give byte-identical frames (the warp may run on several threads, by bands of rows, but each
//!   row is computed the same way whichever thread computes it).
//!
//! `jitter` measures motion smoothness on rendered frames, for benchmarks and tests.

pub mod card;
pub mod clip;
pub mod designed;
pub mod fill;
pub mod jitter;
pub mod motion;
pub mod sample;
pub mod style;
pub mod timeline;
pub mod transition;

use std::sync::Arc;
use std::time::Duration;

use reelsmith_core::{Code, ErrorCode, FrameSize, Limits, Style, TitleBackground, Transition};

use crate::frame::Yuv420Frame;
use crate::image_input::StillImage;
use crate::process::ProcessError;

pub use clip::{open_clip, ClipSource};
pub use jitter::{measure_jitter, JitterReport};
pub use motion::{resolve_motion, CameraMotion};

use clip::ClipDecoder;
use sample::{Plane, Sampler, YuvCanvas};
use style::StyleLut;
use timeline::Timeline;

/// What a scene shows.
#[derive(Debug, Clone)]
pub enum SceneVisual {
    /// Shared: one photo shown by many scenes is held once, and prepared once for consecutive
    /// showings.
    Still(Arc<StillImage>),
    Clip(ClipSource),
    /// A background for a title card; the text is overlaid elsewhere.
    Card {
        seed: u64,
    },
    /// A designed title scene's background: the card's gradient under the camera, with
    /// moving light drawn over it every frame ([`designed`]). The text is overlaid elsewhere.
    Designed {
        seed: u64,
        background: TitleBackground,
    },
}

#[derive(Debug, Clone)]
pub struct SceneSpec {
    pub visual: SceneVisual,
    /// The scene's camera path, with a requested `Auto` already resolved ([`resolve_motion`]).
    pub motion: CameraMotion,
    /// Seconds.
    pub duration: f64,
    /// How this scene gives way to the next one, when it is not the film's transition (a
    /// storyboard's per-scene choice). Ignored on the last scene.
    pub transition: Option<Transition>,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("there are no scenes to compose")]
    NoScenes,
    #[error("invalid composition settings: {0}")]
    InvalidSettings(String),
    #[error("the video would be {seconds:.1} s long, more than the limit of {limit} s")]
    TooLong { seconds: f64, limit: f64 },
    #[error("all frames have been rendered")]
    Finished,
    #[error("the clip is larger than the limit of {limit} bytes")]
    ClipTooLarge { limit: u64 },
    #[error("the file has no video stream")]
    NoVideoStream,
    #[error("the video could not be read: {0}")]
    ClipUnreadable(String),
    #[error("the clip is {seconds:.1} s long, more than the limit of {limit} s")]
    ClipTooLong { seconds: f64, limit: f64 },
    #[error("the clip has {frames} frames, more than the limit of {limit}")]
    ClipTooManyFrames { frames: u64, limit: u64 },
    #[error("decoding the clip failed: {0}")]
    ClipDecode(String),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("internal compositor error: {0}")]
    Internal(String),
}

impl ErrorCode for ComposeError {
    fn code(&self) -> Code {
        match self {
            ComposeError::NoScenes => Code::ComposeNoScenes,
            ComposeError::InvalidSettings(_) => Code::ComposeInvalidSettings,
            ComposeError::TooLong { .. } => Code::ComposeTooLong,
            ComposeError::Finished => Code::ComposeFinished,
            ComposeError::ClipTooLarge { .. } => Code::ClipTooLarge,
            ComposeError::NoVideoStream => Code::ClipNoVideoStream,
            ComposeError::ClipUnreadable(_) => Code::ClipUnreadable,
            ComposeError::ClipTooLong { .. } => Code::ClipTooLong,
            ComposeError::ClipTooManyFrames { .. } => Code::ClipTooManyFrames,
            ComposeError::ClipDecode(_) => Code::ClipDecodeFailed,
            ComposeError::Process(e) => e.code(),
            ComposeError::Internal(_) => Code::ComposeInternal,
        }
    }

    fn is_client_error(&self) -> bool {
        matches!(
            self,
            ComposeError::TooLong { .. }
                | ComposeError::ClipTooLarge { .. }
                | ComposeError::NoVideoStream
                | ComposeError::ClipUnreadable(_)
                | ComposeError::ClipTooLong { .. }
                | ComposeError::ClipTooManyFrames { .. }
        )
    }
}

/// A scene's lifecycle: waiting, prepared while visible, released after.
enum SceneState {
    Pending(SceneVisual),
    /// Shared with the next scene that shows the same still at the same canvas size.
    Canvas(Arc<YuvCanvas>),
    Clip {
        decoder: Box<ClipDecoder>,
        canvas: YuvCanvas,
    },
    Released,
}

struct Scene {
    state: SceneState,
    motion: CameraMotion,
    /// The moving light of a designed title scene.
    lights: Option<designed::Lights>,
}

/// Renders the film frame by frame, in order.
pub struct Compositor {
    size: FrameSize,
    fps: u32,
    style: Option<StyleLut>,
    scenes: Vec<Scene>,
    timeline: Timeline,
    /// `transitions[i]`: how scene `i - 1` gives way to scene `i` (entry 0 unused).
    transitions: Vec<Transition>,
    /// A row of two frames side by side, for slides.
    strip: Vec<u8>,
    next_frame: u64,
    sampler: Sampler,
    /// The incoming scene's picture during a crossfade.
    incoming: Yuv420Frame,
    process_timeout: Duration,
    /// The last still prepared, while a later scene will show the same picture again: one
    /// photo over many scenes is fitted, resized and graded once, not once per scene.
    still_cache: Option<StillCanvas>,
}

struct StillCanvas {
    image: Arc<StillImage>,
    size: (u32, u32),
    canvas: Arc<YuvCanvas>,
}

impl Compositor {
    /// A compositor whose scenes crossfade into each other over `crossfade` seconds, unless
    /// a scene names its own transition.
    pub fn new(
        size: FrameSize,
        fps: u32,
        style: Style,
        scenes: Vec<SceneSpec>,
        crossfade: f64,
        limits: &Limits,
    ) -> Result<Compositor, ComposeError> {
        Compositor::with_transition(
            size,
            fps,
            style,
            scenes,
            Transition::Crossfade,
            crossfade,
            limits,
        )
    }

    /// A compositor whose scenes give way to each other with `transition` over `seconds`
    /// (centred on each boundary), unless a scene names its own. Zero seconds makes every
    /// boundary a cut.
    pub fn with_transition(
        size: FrameSize,
        fps: u32,
        style: Style,
        scenes: Vec<SceneSpec>,
        transition: Transition,
        seconds: f64,
        limits: &Limits,
    ) -> Result<Compositor, ComposeError> {
        let crossfade = seconds;
        validate(size, fps, &scenes, crossfade)?;
        let durations: Vec<f64> = scenes.iter().map(|s| s.duration).collect();
        let total: f64 = durations.iter().sum();
        if total > limits.max_output_seconds {
            return Err(ComposeError::TooLong {
                seconds: total,
                limit: limits.max_output_seconds,
            });
        }
        let transitions: Vec<Transition> = std::iter::once(Transition::Cut)
            .chain(
                scenes
                    .iter()
                    .take(scenes.len().saturating_sub(1))
                    .map(|s| s.transition.unwrap_or(transition)),
            )
            .collect();
        let cuts: Vec<bool> = transitions[1..]
            .iter()
            .map(|t| *t == Transition::Cut)
            .collect();
        let timeline = Timeline::with_cuts(&durations, fps, crossfade, &cuts);
        for i in 0..timeline.scene_count() {
            if timeline.own_frames(i).is_empty() {
                return Err(ComposeError::InvalidSettings(format!(
                    "scene {i} is shorter than one frame"
                )));
            }
        }
        Ok(Compositor {
            size,
            fps,
            style: StyleLut::new(style),
            scenes: scenes
                .into_iter()
                .map(|s| Scene {
                    lights: match &s.visual {
                        SceneVisual::Designed { seed, background } => {
                            Some(designed::Lights::new(*background, *seed))
                        }
                        _ => None,
                    },
                    state: SceneState::Pending(s.visual),
                    motion: s.motion,
                })
                .collect(),
            timeline,
            transitions,
            strip: Vec::new(),
            next_frame: 0,
            sampler: Sampler::default(),
            incoming: Yuv420Frame::black(size),
            process_timeout: Duration::from_secs(limits.process_timeout_seconds.max(1)),
            still_cache: None,
        })
    }

    /// Splits the warp of each frame across `threads` threads, by bands of rows. The frames
    /// are byte for byte the same as on one thread; only the wall time per frame changes.
    pub fn with_warp_threads(mut self, threads: usize) -> Compositor {
        self.sampler = Sampler::with_bands(threads);
        self
    }

    /// Makes `frame` the next frame rendered, skipping those before it: for a single still
    /// frame (a preview). The scenes it skips are prepared only if a later frame shows them;
    /// a clip starts at its beginning whatever frame it is first shown on.
    pub fn seek(&mut self, frame: u64) {
        self.next_frame = frame.min(self.frame_count().saturating_sub(1));
    }

    /// `round(total duration × fps)`.
    pub fn frame_count(&self) -> u64 {
        self.timeline.frame_count()
    }

    /// The scene a frame mostly belongs to (during a crossfade, the one weighing more).
    pub fn scene_at(&self, frame: u64) -> usize {
        self.timeline.scene_at(frame)
    }

    /// Renders the next frame into `out`, which must have the compositor's frame size.
    pub fn render_next(&mut self, out: &mut Yuv420Frame) -> Result<(), ComposeError> {
        let n = self.next_frame;
        if n >= self.frame_count() {
            return Err(ComposeError::Finished);
        }
        if out.size() != self.size {
            return Err(ComposeError::InvalidSettings(format!(
                "frame buffer is {}x{}, the film is {}x{}",
                out.size().width,
                out.size().height,
                self.size.width,
                self.size.height
            )));
        }
        // Spans are ordered and at most two overlap: the first visible scene, maybe its successor.
        let first = (0..self.scenes.len())
            .find(|&i| self.timeline.span(i).contains(&n))
            .ok_or_else(|| ComposeError::Internal(format!("no scene covers frame {n}")))?;
        let second = first + 1;
        if second < self.scenes.len() && self.timeline.span(second).contains(&n) {
            let kind = self.transitions[second];
            let progress = self.timeline.transition_progress(second, n);
            let (zoom_out, zoom_in) = transition::zoom_factors(kind, progress);
            self.render_scene(first, n, zoom_out, Target::Out(&mut *out))?;
            self.render_scene(second, n, zoom_in, Target::Incoming)?;
            let weight = self.timeline.fade_in_weight(second, n);
            transition::draw(kind, out, &self.incoming, progress, weight, &mut self.strip);
        } else {
            self.render_scene(first, n, 1.0, Target::Out(&mut *out))?;
        }
        self.next_frame += 1;
        // Release every scene whose span is over: its canvas or its ffmpeg is no longer needed.
        for (i, scene) in self.scenes.iter_mut().enumerate() {
            if self.timeline.span(i).end <= self.next_frame {
                scene.state = SceneState::Released;
            }
        }
        Ok(())
    }

    /// Draws scene `i` at frame `n`, its camera pushed in `push` times further (a zoom
    /// transition; 1 otherwise).
    fn render_scene(
        &mut self,
        i: usize,
        n: u64,
        push: f64,
        target: Target,
    ) -> Result<(), ComposeError> {
        self.prepare(i)?;
        let span = self.timeline.span(i);
        let progress = ((n - span.start) as f64 + 0.5) / (span.end - span.start) as f64;
        let scene = &mut self.scenes[i];
        let mut camera = motion::camera(scene.motion, progress);
        // Zooming in around the view's own centre keeps the view inside the canvas.
        camera.zoom *= push;
        let out = match target {
            Target::Out(out) => out,
            Target::Incoming => &mut self.incoming,
        };
        match &mut scene.state {
            SceneState::Canvas(canvas) => {
                self.sampler.render(canvas, camera, out);
                if let Some(lights) = &mut scene.lights {
                    lights.draw(out, (n - span.start) as f64 / self.fps as f64);
                }
            }
            SceneState::Clip { decoder, canvas } => {
                decoder.next_frame(canvas)?;
                self.sampler.render(canvas, camera, out);
                if let Some(style) = &self.style {
                    let width = self.size.width as usize;
                    let (y, cb, cr) = out.planes_mut();
                    style.apply(y, cb, cr, width);
                }
            }
            SceneState::Pending(_) | SceneState::Released => {
                return Err(ComposeError::Internal(format!("scene {i} is not ready")))
            }
        }
        Ok(())
    }

    /// Prepares scene `i` the first time it is needed.
    fn prepare(&mut self, i: usize) -> Result<(), ComposeError> {
        let scene = &mut self.scenes[i];
        let SceneState::Pending(_) = scene.state else {
            return Ok(());
        };
        let SceneState::Pending(visual) = std::mem::replace(&mut scene.state, SceneState::Released)
        else {
            unreachable!("checked above");
        };
        let (cw, ch) = canvas_size(self.size, motion::max_zoom(scene.motion));
        let state = match visual {
            SceneVisual::Still(image) => {
                let canvas = match self.still_cache.take() {
                    Some(c) if Arc::ptr_eq(&c.image, &image) && c.size == (cw, ch) => c.canvas,
                    _ => {
                        let rgb = fill::still_canvas_rgb(&image, cw, ch)?;
                        Arc::new(self.graded_canvas(&rgb, cw, ch))
                    }
                };
                let shown_again = self.scenes[i + 1..].iter().any(|s| {
                    matches!(&s.state, SceneState::Pending(SceneVisual::Still(later))
                        if Arc::ptr_eq(later, &image))
                });
                if shown_again {
                    self.still_cache = Some(StillCanvas {
                        image,
                        size: (cw, ch),
                        canvas: canvas.clone(),
                    });
                }
                SceneState::Canvas(canvas)
            }
            SceneVisual::Card { seed } | SceneVisual::Designed { seed, .. } => {
                let rgb = card::card_rgb(seed, cw as usize, ch as usize);
                SceneState::Canvas(Arc::new(self.graded_canvas(&rgb, cw, ch)))
            }
            SceneVisual::Clip(source) => {
                let span = self.timeline.span(i);
                let decoder = ClipDecoder::start(
                    &source,
                    cw,
                    ch,
                    self.fps,
                    span.end - span.start,
                    self.process_timeout,
                )?;
                SceneState::Clip {
                    decoder: Box::new(decoder),
                    canvas: empty_canvas(cw as usize, ch as usize),
                }
            }
        };
        self.scenes[i].state = state;
        Ok(())
    }

    fn graded_canvas(&self, rgb: &[u8], width: u32, height: u32) -> YuvCanvas {
        let mut canvas = fill::rgb_to_canvas(rgb, width as usize, height as usize);
        if let Some(style) = &self.style {
            style.apply(
                &mut canvas.y.data,
                &mut canvas.cb.data,
                &mut canvas.cr.data,
                width as usize,
            );
        }
        canvas
    }
}

enum Target<'a> {
    Out(&'a mut Yuv420Frame),
    Incoming,
}

/// The canvas for a motion reaching `zoom`: the frame scaled up, rounded to even sizes.
fn canvas_size(frame: FrameSize, zoom: f64) -> (u32, u32) {
    let scale = |v: u32| (((v as f64 * zoom) / 2.0).round() as u32 * 2).max(2);
    (scale(frame.width), scale(frame.height))
}

fn empty_canvas(width: usize, height: usize) -> YuvCanvas {
    YuvCanvas {
        y: Plane::new(width, height, 16),
        cb: Plane::new(width / 2, height / 2, 128),
        cr: Plane::new(width / 2, height / 2, 128),
    }
}

fn validate(
    size: FrameSize,
    fps: u32,
    scenes: &[SceneSpec],
    crossfade: f64,
) -> Result<(), ComposeError> {
    let invalid = |m: String| Err(ComposeError::InvalidSettings(m));
    if scenes.is_empty() {
        return Err(ComposeError::NoScenes);
    }
    if size.width < 2 || size.height < 2 || size.width % 2 == 1 || size.height % 2 == 1 {
        return invalid(format!(
            "frame size {}x{} must be even",
            size.width, size.height
        ));
    }
    if size.width > 8192 || size.height > 8192 {
        return invalid(format!(
            "frame size {}x{} is too large",
            size.width, size.height
        ));
    }
    if fps == 0 || fps > 120 {
        return invalid(format!("{fps} fps is out of range"));
    }
    if !crossfade.is_finite() || crossfade < 0.0 {
        return invalid(format!(
            "crossfade {crossfade} must be zero or more seconds"
        ));
    }
    for (i, scene) in scenes.iter().enumerate() {
        if !scene.duration.is_finite() || scene.duration <= 0.0 {
            return invalid(format!("scene {i} has duration {}", scene.duration));
        }
        if let SceneVisual::Still(image) = &scene.visual {
            let expected = image.width as usize * image.height as usize * 3;
            if image.width == 0 || image.height == 0 || image.rgb.len() != expected {
                return invalid(format!(
                    "scene {i}: the image buffer does not match its size"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn textured_still(width: u32, height: u32) -> StillImage {
        let mut rgb = Vec::with_capacity((width * height * 3) as usize);
        for y in 0..height {
            for x in 0..width {
                let v = (x * 7 + y * 13 + (x * y) % 31) as u8;
                rgb.extend_from_slice(&[v, v.wrapping_mul(3), 255 - v]);
            }
        }
        StillImage { width, height, rgb }
    }

    /// The render loop reuses frame buffers (the encoder's pipeline hands back the ones it has
    /// written), so every frame must be drawn completely, whatever the buffer held before: moving
    /// scenes, a static one and crossfades, into fresh black buffers and into dirty ones.
    #[test]
    fn frames_do_not_depend_on_what_the_buffer_held() {
        let size = FrameSize::new(96, 54);
        let image = std::sync::Arc::new(textured_still(200, 120));
        let scenes = || {
            [
                CameraMotion::ZoomIn,
                CameraMotion::Static,
                CameraMotion::PanLeft,
            ]
            .into_iter()
            .map(|motion| SceneSpec {
                visual: SceneVisual::Still(image.clone()),
                motion,
                duration: 0.5,
                // Every kind of overlap frame must be drawn completely too.
                transition: Some(match motion {
                    CameraMotion::ZoomIn => Transition::Wipe,
                    CameraMotion::Static => Transition::Slide,
                    _ => Transition::Zoom,
                }),
            })
            .chain([SceneSpec {
                visual: SceneVisual::Designed {
                    seed: 3,
                    background: TitleBackground::Particles,
                },
                motion: CameraMotion::ZoomOut,
                duration: 0.5,
                transition: None,
            }])
            .collect::<Vec<_>>()
        };
        let limits = Limits::default();
        let mut fresh = Compositor::new(size, 24, Style::Warm, scenes(), 0.2, &limits).unwrap();
        let mut dirty = Compositor::new(size, 24, Style::Warm, scenes(), 0.2, &limits).unwrap();
        let mut garbage = Yuv420Frame::black(size);
        for n in 0..fresh.frame_count() {
            let mut a = Yuv420Frame::black(size);
            fresh.render_next(&mut a).unwrap();
            let (y, u, v) = garbage.planes_mut();
            for (i, p) in y.iter_mut().chain(u).chain(v).enumerate() {
                *p = (i as u64 * 31 + n * 7) as u8;
            }
            dirty.render_next(&mut garbage).unwrap();
            assert!(a == garbage, "frame {n} differs");
        }
    }
}
