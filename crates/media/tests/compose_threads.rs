//! The compositor's speed-ups change no byte: frames are the same whatever the number of warp
//! threads, and a photo shown by consecutive scenes (prepared once and shared) renders exactly
//! as when each scene prepares its own copy.

use std::sync::Arc;

use reelsmith_core::{FrameSize, Limits, Style};
use reelsmith_media::captions::{build_cues, CaptionLayout, CaptionRenderer, CaptionStyle};
use reelsmith_media::compose::{CameraMotion, Compositor, SceneSpec, SceneVisual};
use reelsmith_media::frame::Yuv420Frame;
use reelsmith_media::image_input::StillImage;
use reelsmith_media::timing::WordTiming;

const SIZE: FrameSize = FrameSize::new(640, 360);
const FPS: u32 = 30;

/// Fine, irregular texture: every sub-pixel shift of the camera changes the bytes.
fn photo() -> StillImage {
    let (width, height) = (900u32, 500u32);
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    let mut state = 0x5eed_u64;
    for y in 0..height {
        for x in 0..width {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let grain = (state >> 59) as u8;
            let v = ((x * 3 + y * 5) % 200) as u8 + grain;
            rgb.extend([v, v.wrapping_add(40), 255 - v]);
        }
    }
    StillImage { width, height, rgb }
}

fn words() -> Vec<WordTiming> {
    "the river begins high in the mountains where snow melts into thin cold streams"
        .split(' ')
        .enumerate()
        .map(|(i, w)| WordTiming::new(w, 0.1 + i as f64 * 0.2, 0.28 + i as f64 * 0.2))
        .collect()
}

/// Every frame of a pan, a zoom and a pan with 0.3 s crossfades, karaoke captions blended on,
/// as the render loop does.
fn film(visuals: [SceneVisual; 3], threads: usize) -> Vec<Yuv420Frame> {
    let motions = [
        CameraMotion::PanLeft,
        CameraMotion::ZoomIn,
        CameraMotion::PanDown,
    ];
    let scenes = visuals
        .into_iter()
        .zip(motions)
        .map(|(visual, motion)| SceneSpec {
            visual,
            motion,
            duration: 1.0,
            transition: None,
        })
        .collect();
    let mut compositor =
        Compositor::new(SIZE, FPS, Style::Cinematic, scenes, 0.3, &Limits::default())
            .unwrap()
            .with_warp_threads(threads);
    let layout = CaptionLayout::for_frame(SIZE);
    let mut captions =
        CaptionRenderer::new(build_cues(&words(), &layout), layout, CaptionStyle::Karaoke);
    let mut frames = Vec::new();
    for n in 0..compositor.frame_count() {
        let mut frame = Yuv420Frame::black(SIZE);
        compositor.render_next(&mut frame).unwrap();
        if let Some(overlay) = captions.overlay_at(n as f64 / FPS as f64) {
            frame.blend(overlay);
        }
        frames.push(frame);
    }
    frames
}

#[test]
fn frames_are_byte_identical_for_one_two_and_four_warp_threads() {
    let image = Arc::new(photo());
    let visuals = || [(); 3].map(|_| SceneVisual::Still(image.clone()));
    let one = film(visuals(), 1);
    assert_eq!(one.len(), 90);
    // The film moves and shows captions, so the comparison is not between blank frames.
    assert!(
        one.windows(2).all(|w| w[0] != w[1]),
        "every frame differs from the last"
    );
    for threads in [2, 4] {
        let other = film(visuals(), threads);
        for (n, (a, b)) in one.iter().zip(&other).enumerate() {
            assert!(a == b, "frame {n} differs with {threads} threads");
        }
    }
}

#[test]
fn a_photo_prepared_once_for_consecutive_scenes_renders_as_one_prepared_per_scene() {
    let shared = Arc::new(photo());
    let together = film([(); 3].map(|_| SceneVisual::Still(shared.clone())), 1);
    // Three separate copies of the same picture: nothing can be shared between the scenes.
    let apart = film([(); 3].map(|_| SceneVisual::Still(Arc::new(photo()))), 1);
    assert_eq!(together.len(), apart.len());
    for (n, (a, b)) in together.iter().zip(&apart).enumerate() {
        assert!(a == b, "frame {n} differs");
    }
}
