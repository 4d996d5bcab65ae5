//! Burned-in captions and title cards, checked on the pixels: cues show and hide on time, karaoke
//! recolours exactly the spoken word, rasters are reused frame after frame, and text stays inside
//! the safe area on every output size.

use reelsmith_core::{Aspect, FrameSize, Resolution};
use reelsmith_media::captions::{build_cues, CaptionLayout, CaptionRenderer, CaptionStyle};
use reelsmith_media::frame::{Overlay, Yuv420Frame};
use reelsmith_media::text::{title_overlay, Font};
use reelsmith_media::timing::WordTiming;

fn all_sizes() -> Vec<FrameSize> {
    let mut sizes = Vec::new();
    for r in [Resolution::P480, Resolution::P720, Resolution::P1080] {
        for a in [Aspect::Landscape, Aspect::Portrait, Aspect::Square] {
            sizes.push(r.frame_size(a));
        }
    }
    sizes
}

/// Two short sentences with a clear silence between them.
fn two_sentences() -> Vec<WordTiming> {
    vec![
        WordTiming::new("Hello", 1.0, 1.4),
        WordTiming::new("bright", 1.5, 1.9),
        WordTiming::new("world.", 2.0, 2.5),
        WordTiming::new("Goodbye", 4.0, 4.5),
        WordTiming::new("now.", 4.6, 5.0),
    ]
}

fn renderer(size: FrameSize, style: CaptionStyle) -> CaptionRenderer {
    let layout = CaptionLayout::for_frame(size);
    let cues = build_cues(&two_sentences(), &layout);
    CaptionRenderer::new(cues, layout, style)
}

#[test]
fn overlays_show_during_cues_and_not_between() {
    let mut r = renderer(FrameSize::new(1280, 720), CaptionStyle::Subtitle);
    assert_eq!(r.cues().len(), 2);
    assert!(r.overlay_at(0.5).is_none(), "before the first word");
    assert!(r.overlay_at(1.0).is_some());
    assert!(r.overlay_at(2.4).is_some());
    assert!(
        r.overlay_at(3.5).is_none(),
        "in the silence between sentences"
    );
    assert!(r.overlay_at(4.7).is_some());
    assert!(r.overlay_at(5.5).is_none(), "after the last word");
}

/// Chroma samples of the overlay that are clearly yellow (low Cb, raised Cr) and fairly opaque,
/// as a bounding box in overlay chroma coordinates.
fn yellow_box(o: &Overlay) -> Option<(usize, usize, usize, usize)> {
    let cw = o.width as usize / 2;
    let mut b: Option<(usize, usize, usize, usize)> = None;
    for i in 0..o.cb.len() {
        if o.chroma_alpha[i] > 128 && o.cb[i] < 90 && o.cr[i] > 135 {
            let (x, y) = (i % cw, i / cw);
            let e = b.get_or_insert((x, y, x, y));
            *e = (e.0.min(x), e.1.min(y), e.2.max(x), e.3.max(y));
        }
    }
    b
}

fn yellow_inside(o: &Overlay, b: (usize, usize, usize, usize)) -> usize {
    let cw = o.width as usize / 2;
    (b.1..=b.3)
        .flat_map(|y| (b.0..=b.2).map(move |x| y * cw + x))
        .filter(|&i| o.chroma_alpha[i] > 128 && o.cb[i] < 90 && o.cr[i] > 135)
        .count()
}

#[test]
fn karaoke_moves_the_highlight_when_the_next_word_starts() {
    let size = FrameSize::new(1280, 720);
    let mut r = renderer(size, CaptionStyle::Karaoke);
    let first = r.overlay_at(1.2).unwrap().clone();
    let second = r.overlay_at(1.6).unwrap().clone();
    let same_cue_gap = r.overlay_at(1.45).unwrap().clone();
    let hello = yellow_box(&first).expect("the first word is highlighted");
    let bright = yellow_box(&second).expect("the second word is highlighted");
    assert!(
        hello.2 < bright.0,
        "\"bright\" is right of \"Hello\": {hello:?} {bright:?}"
    );
    assert_eq!(yellow_inside(&second, hello), 0, "Hello is white again");
    assert_eq!(
        yellow_inside(&first, bright),
        0,
        "bright was white before its start"
    );
    // Between words the last started word stays highlighted.
    assert_eq!(yellow_box(&same_cue_gap), Some(hello));
    // The highlighted box is as wide as the measured word (chroma is half resolution).
    let layout = CaptionLayout::for_frame(size);
    let measured = Font::caption().measure("bright", layout.font_px);
    let highlighted = ((bright.2 - bright.0 + 1) * 2) as f32;
    assert!(
        (highlighted - measured).abs() < layout.font_px * 0.3,
        "{highlighted} vs {measured}"
    );
    // Yellow is darker than white, so luma changes too, while the overlay itself stays put.
    assert_ne!(first.luma, second.luma);
    assert_eq!(
        (first.left, first.top, first.width),
        (second.left, second.top, second.width)
    );
}

#[test]
fn subtitles_are_never_yellow() {
    let mut r = renderer(FrameSize::new(1280, 720), CaptionStyle::Subtitle);
    for t in [1.2, 1.6, 2.2, 4.2, 4.8] {
        assert!(yellow_box(r.overlay_at(t).unwrap()).is_none(), "t={t}");
    }
}

#[test]
fn frames_reuse_the_cached_overlay() {
    let mut r = renderer(FrameSize::new(1920, 1080), CaptionStyle::Karaoke);
    let a = r.overlay_at(1.20).unwrap() as *const Overlay;
    let glyphs = r.glyphs_rasterized();
    let built = r.overlays_built();
    assert!(glyphs > 0 && built == 1);
    // Every frame (30 fps) of the first word.
    for frame in 0..12 {
        let t = 1.0 + frame as f64 / 30.0;
        let b = r.overlay_at(t).unwrap() as *const Overlay;
        assert_eq!(a, b, "t={t}");
    }
    assert_eq!((r.glyphs_rasterized(), r.overlays_built()), (glyphs, built));
    // The next word builds one more overlay from the same glyphs.
    r.overlay_at(1.6).unwrap();
    assert_eq!(
        (r.glyphs_rasterized(), r.overlays_built()),
        (glyphs, built + 1)
    );
    // Back to the first word: cached, nothing new.
    r.overlay_at(1.3).unwrap();
    assert_eq!(r.overlays_built(), built + 1);
    // The next cue shares letters with the first, so only its new letters are rasterized.
    r.overlay_at(4.2).unwrap();
    let new_letters = "Gdbyn".len();
    assert!(r.glyphs_rasterized() <= glyphs + new_letters);
}

/// Bright luma pixels of a frame, as (x, y).
fn bright_pixels(frame: &Yuv420Frame) -> Vec<(u32, u32)> {
    let w = frame.size().width;
    let (y, _, _) = frame.planes();
    y.iter()
        .enumerate()
        .filter(|(_, &v)| v > 150)
        .map(|(i, _)| (i as u32 % w, i as u32 / w))
        .collect()
}

#[test]
fn burned_captions_stay_inside_the_safe_area_on_every_size() {
    let long = "Съешь же ещё этих мягких французских булок, да выпей чаю. \
        Donaudampfschifffahrtsgesellschaftskapitänsmütze und WWWWWWWWWWWW MMMMMMMMMMMM.";
    for size in all_sizes() {
        let layout = CaptionLayout::for_frame(size);
        let mut t = 0.0;
        let words: Vec<WordTiming> = long
            .split_whitespace()
            .map(|w| {
                t += 0.5;
                WordTiming::new(w, t - 0.5, t - 0.1)
            })
            .collect();
        let cues = build_cues(&words, &layout);
        let times: Vec<f64> = cues.iter().map(|c| (c.start + c.end) / 2.0).collect();
        let mut r =
            CaptionRenderer::new(cues, layout, CaptionStyle::Karaoke).with_background_box(true);
        for t in times {
            let mut frame = Yuv420Frame::black(size);
            frame.blend(r.overlay_at(t).unwrap());
            let bright = bright_pixels(&frame);
            assert!(bright.len() > 50, "{size:?} t={t}: text is visible");
            let (w, h) = (size.width as f32, size.height as f32);
            for &(x, y) in &bright {
                let (x, y) = (x as f32, y as f32);
                assert!(
                    x >= w * 0.05 && x < w * 0.95 && y < h * 0.92 && y > h * 0.5,
                    "{size:?} t={t}: bright pixel at {x},{y}"
                );
            }
        }
    }
}

#[test]
fn the_background_box_darkens_around_the_text() {
    let size = FrameSize::new(1280, 720);
    let plain = renderer(size, CaptionStyle::Subtitle)
        .overlay_at(1.2)
        .unwrap()
        .clone();
    let boxed = renderer(size, CaptionStyle::Subtitle)
        .with_background_box(true)
        .overlay_at(1.2)
        .unwrap()
        .clone();
    let covered = |o: &Overlay| o.alpha.iter().filter(|&&a| a > 100).count();
    assert!(covered(&boxed) > covered(&plain) * 2);
    // The box is translucent: a grey frame shows through, darkened.
    let mut frame = Yuv420Frame::black(size);
    frame.planes_mut().0.fill(180);
    frame.blend(&boxed);
    let (y, _, _) = frame.planes();
    let box_only = (0..boxed.alpha.len())
        .find(|&i| (130..=150).contains(&boxed.alpha[i]) && boxed.luma[i] == 16)
        .expect("pixels covered by the box alone");
    let (bx, by) = (box_only as u32 % boxed.width, box_only as u32 / boxed.width);
    let at = ((boxed.top as u32 + by) * size.width + boxed.left as u32 + bx) as usize;
    assert!(y[at] < 150 && y[at] > 40, "luma {}", y[at]);
}

#[test]
fn title_cards_stay_inside_the_frame_for_all_sizes() {
    let texts = [
        "Chapter one",
        "A much longer title that will certainly need to wrap onto several lines to fit",
        &"Endless words keep coming ".repeat(80),
        "Donaudampfschifffahrtsgesellschaftskapitänsmütze",
        "Прощание славянки — ещё раз",
    ];
    for size in all_sizes() {
        for text in texts {
            let o = title_overlay(text, size);
            assert!(o.left >= 0 && o.top >= 0, "{size:?} {text:.20}");
            assert!(o.left as u32 + o.width <= size.width, "{size:?} {text:.20}");
            assert!(
                o.top as u32 + o.height <= size.height,
                "{size:?} {text:.20}"
            );
            let mut frame = Yuv420Frame::black(size);
            frame.blend(&o);
            let bright = bright_pixels(&frame);
            assert!(bright.len() > 100, "{size:?} {text:.20}: visible");
            let (w, h) = (size.width as f32, size.height as f32);
            for &(x, y) in &bright {
                let (x, y) = (x as f32, y as f32);
                assert!(x >= w * 0.05 && x < w * 0.95 && y >= h * 0.1 && y < h * 0.9);
            }
        }
    }
}

#[test]
fn long_titles_are_set_smaller_than_short_ones() {
    let size = FrameSize::new(1280, 720);
    let short = title_overlay("Short", size);
    let long = title_overlay(&"Many words here ".repeat(12), size);
    // Compare cap heights through the tallest bright run in one column band: simpler, the
    // rasterized "S" of the short title is taller than any letter of the long one.
    let tallest_run = |o: &Overlay| {
        let w = o.width as usize;
        (0..w)
            .map(|x| {
                let (mut best, mut run) = (0, 0);
                for y in 0..o.height as usize {
                    if o.alpha[y * w + x] > 200 && o.luma[y * w + x] > 200 {
                        run += 1;
                        best = best.max(run);
                    } else {
                        run = 0;
                    }
                }
                best
            })
            .max()
            .unwrap_or(0)
    };
    assert!(tallest_run(&short) > tallest_run(&long) * 3 / 2);
    assert!(
        title_overlay("🦀", size).width == 0,
        "nothing drawable, nothing drawn"
    );
}
