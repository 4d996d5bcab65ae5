//! How one scene gives way to the next (issue 25): the transitions drawn on the frames where two
//! scenes overlap, from the outgoing scene's frame (`out`) and the incoming one's (`incoming`),
//! both already warped by the camera.
//!
//! Every transition costs what a crossfade costs, give or take: the two warps (which every
//! overlap frame already pays) plus one pass over the frame. Positions are fractions of a pixel,
//! never rounded to whole ones, so a slide or a wipe moves as smoothly as the camera:
//! - `Slide` reads the two frames side by side as one strip twice the frame's width, shifted by
//!   the eased offset with the warp's own fixed-point bilinear weights (1/256 pixel), so the seam
//!   column is a blend of the two scenes in proportion to where the seam falls inside it;
//! - `Wipe` covers the outgoing scene up to an edge at a fractional column, the column the edge
//!   crosses blended by its coverage;
//! - `FadeBlack` darkens the outgoing scene to black, holds black for the middle tenth, and
//!   brings the incoming one up from black;
//! - `Zoom` is the camera's: the outgoing scene's view zooms in while the incoming one's settles
//!   from the same zoom (see [`zoom_factors`]), crossfading between them.

use reelsmith_core::Transition;

use crate::frame::Yuv420Frame;

use super::motion::ease;
use super::sample::blend_frames;

/// Limited-range black, the level a fade goes through.
const BLACK: [u8; 3] = [16, 128, 128];
/// The fraction of a fade through black spent fully black, around its middle.
const BLACK_HOLD: f64 = 0.1;
/// How far the zoom transition pushes in: the outgoing scene ends, and the incoming one starts,
/// this much closer.
const ZOOM_PUSH: f64 = 0.3;

/// Draws the transition at `progress` (0 to 1) into `out`, which holds the outgoing scene's
/// frame; `incoming` holds the incoming scene's. `weight` is the crossfade's weight of the
/// incoming scene in 1/256ths at this frame (as the timeline gives it, so crossfades stay
/// byte for byte what they were).
pub fn draw(
    kind: Transition,
    out: &mut Yuv420Frame,
    incoming: &Yuv420Frame,
    progress: f64,
    weight: u16,
    scratch: &mut Vec<u8>,
) {
    match kind {
        // A cut has no overlap, so it never gets here; if it did, the later scene shows.
        Transition::Cut => blend_frames(out, incoming, 256),
        Transition::Crossfade => blend_frames(out, incoming, weight),
        Transition::Zoom => blend_frames(out, incoming, to_256ths(ease(progress))),
        Transition::FadeBlack => fade_black(out, incoming, progress),
        Transition::Slide => slide(out, incoming, ease(progress), scratch),
        Transition::Wipe => wipe(out, incoming, ease(progress)),
    }
}

/// The extra zoom of the outgoing and of the incoming scene's cameras at `progress` of a zoom
/// transition (1 for every other transition): the outgoing view pushes in, the incoming one
/// arrives pushed in and settles, so the dissolve reads as one forward move.
pub fn zoom_factors(kind: Transition, progress: f64) -> (f64, f64) {
    if kind != Transition::Zoom {
        return (1.0, 1.0);
    }
    let e = ease(progress);
    (1.0 + ZOOM_PUSH * e, 1.0 + ZOOM_PUSH * (1.0 - e))
}

fn to_256ths(t: f64) -> u16 {
    (t * 256.0).round().clamp(0.0, 256.0) as u16
}

/// How black a fade through black is at `progress`: rising to 1 over the first 45 %, held, and
/// falling back over the last 45 %.
pub fn black_amount(progress: f64) -> f64 {
    let from_edge = 0.5 - (progress - 0.5).abs();
    (from_edge / (0.5 - BLACK_HOLD / 2.0)).clamp(0.0, 1.0)
}

fn fade_black(out: &mut Yuv420Frame, incoming: &Yuv420Frame, progress: f64) {
    if progress >= 0.5 {
        let (y, u, v) = out.planes_mut();
        let (iy, iu, iv) = incoming.planes();
        y.copy_from_slice(iy);
        u.copy_from_slice(iu);
        v.copy_from_slice(iv);
    }
    let black = to_256ths(black_amount(progress));
    let keep = 256 - black;
    let (y, u, v) = out.planes_mut();
    for (plane, level) in [(y, BLACK[0]), (u, BLACK[1]), (v, BLACK[2])] {
        let add = level as u16 * black + 128;
        for p in plane.iter_mut() {
            *p = ((*p as u16 * keep + add) >> 8) as u8;
        }
    }
}

/// The incoming scene pushes the outgoing one out to the left by `amount` (0 to 1) of the
/// frame's width.
fn slide(out: &mut Yuv420Frame, incoming: &Yuv420Frame, amount: f64, scratch: &mut Vec<u8>) {
    let width = out.size().width as usize;
    let (y, u, v) = out.planes_mut();
    let (iy, iu, iv) = incoming.planes();
    // In 1/256ths of a pixel of each plane: chroma is half as wide, so it moves half as far.
    let luma_shift = (amount * width as f64 * 256.0).round() as usize;
    let chroma_shift = (amount * (width / 2) as f64 * 256.0).round() as usize;
    for (plane, from, w, shift) in [
        (y, iy, width, luma_shift),
        (u, iu, width / 2, chroma_shift),
        (v, iv, width / 2, chroma_shift),
    ] {
        for (row, next) in plane.chunks_exact_mut(w).zip(from.chunks_exact(w)) {
            slide_row(row, next, shift, scratch);
        }
    }
}

/// One row of a slide: output column `x` reads the strip `row ‖ next` at `x + shift / 256` with
/// the warp's bilinear weights and rounding.
fn slide_row(row: &mut [u8], next: &[u8], shift: usize, strip: &mut Vec<u8>) {
    let w = row.len();
    let (whole, frac) = (shift >> 8, (shift & 255) as u16);
    strip.clear();
    strip.extend_from_slice(row);
    strip.extend_from_slice(next);
    // The last sample reads one past the strip only with a zero weight: repeat the edge.
    strip.push(*next.last().unwrap_or(&0));
    let src = &strip[whole.min(w)..];
    let keep = 256 - frac;
    for ((o, &a), &b) in row.iter_mut().zip(src).zip(&src[1..]) {
        *o = ((a as u16 * keep + b as u16 * frac + 128) >> 8) as u8;
    }
}

/// The incoming scene uncovered from the left up to `amount` (0 to 1) of the frame's width.
fn wipe(out: &mut Yuv420Frame, incoming: &Yuv420Frame, amount: f64) {
    let width = out.size().width as usize;
    let (y, u, v) = out.planes_mut();
    let (iy, iu, iv) = incoming.planes();
    let edge = amount * width as f64;
    for (plane, from, w, edge) in [
        (y, iy, width, edge),
        (u, iu, width / 2, edge / 2.0),
        (v, iv, width / 2, edge / 2.0),
    ] {
        let full = (edge.floor() as usize).min(w);
        // The column the edge crosses shows each scene in proportion to its coverage.
        let cover = to_256ths(edge - full as f64);
        for (row, next) in plane.chunks_exact_mut(w).zip(from.chunks_exact(w)) {
            row[..full].copy_from_slice(&next[..full]);
            if let (Some(o), Some(&b)) = (row.get_mut(full), next.get(full)) {
                *o = ((*o as u16 * (256 - cover) + b as u16 * cover + 128) >> 8) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slide_row_is_a_fractional_shift_of_the_strip() {
        let row: Vec<u8> = (0..8).map(|i| i * 10).collect();
        let next = vec![200u8; 8];
        let mut out = row.clone();
        let mut strip = Vec::new();
        // Two and a half pixels.
        slide_row(&mut out, &next, 2 * 256 + 128, &mut strip);
        assert_eq!(&out[..5], &[25, 35, 45, 55, 65]);
        // Column 5 reads 7.5: halfway between the last outgoing sample (70) and 200.
        assert_eq!(out[5], 135);
        assert_eq!(&out[6..], &[200, 200]);
    }

    #[test]
    fn fade_black_holds_black_in_the_middle() {
        assert_eq!(black_amount(0.0), 0.0);
        assert_eq!(black_amount(1.0), 0.0);
        assert_eq!(black_amount(0.5), 1.0);
        assert_eq!(black_amount(0.46), 1.0);
        assert!((black_amount(0.225) - 0.5).abs() < 1e-9);
    }
}
