//! Fitting a picture to the frame's shape, once per scene, into the canvas the camera moves over.
//!
//! - When the media's aspect ratio is within [`COVER_TOLERANCE`] of the frame's, it is
//!   cover-cropped (centred): losing a sliver of the edges is better than bars.
//! - Otherwise (a portrait photo in a landscape video, say) it is fitted inside, and the rest is
//!   filled with a blurred, darkened, cover-scaled copy of itself, the look people expect from
//!   social video. The blur is computed on a small copy (an eighth of the canvas) where a wide
//!   blur is cheap, then scaled up smoothly; the fill is built once, not per frame.
//!
//! The source is resized exactly once, with a Lanczos3 filter (`fast_image_resize`, SIMD), to the
//! canvas resolution, so per-frame sampling never has to minify much. The RGB canvas is then
//! converted to yuv420p planes (BT.709 limited range, chroma from 2×2 averaged RGB).

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::frame::rgb_to_yuv;
use crate::image_input::StillImage;

use super::sample::{Plane, YuvCanvas};
use super::ComposeError;

/// How far (as a ratio) the media's aspect may differ from the frame's and still be cropped.
pub const COVER_TOLERANCE: f64 = 1.2;

/// How the fill behind a fitted picture is dimmed.
const FILL_BRIGHTNESS: f32 = 0.55;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Cover,
    FitWithFill,
}

pub fn framing(media_w: u32, media_h: u32, frame_w: u32, frame_h: u32) -> Framing {
    let media = media_w as f64 / media_h as f64;
    let frame = frame_w as f64 / frame_h as f64;
    let ratio = (media / frame).max(frame / media);
    if ratio <= COVER_TOLERANCE {
        Framing::Cover
    } else {
        Framing::FitWithFill
    }
}

/// Builds the RGB canvas (`width × height`, 3 bytes per pixel) for a still image.
pub fn still_canvas_rgb(
    image: &StillImage,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, ComposeError> {
    match framing(image.width, image.height, width, height) {
        Framing::Cover => resize_cover(image, width, height, lanczos()),
        Framing::FitWithFill => fit_with_fill(image, width, height),
    }
}

fn lanczos() -> ResizeAlg {
    ResizeAlg::Convolution(FilterType::Lanczos3)
}

fn resize_cover(
    image: &StillImage,
    width: u32,
    height: u32,
    alg: ResizeAlg,
) -> Result<Vec<u8>, ComposeError> {
    let options = ResizeOptions::new()
        .resize_alg(alg)
        .fit_into_destination(Some((0.5, 0.5)));
    resize(
        &image.rgb,
        image.width,
        image.height,
        width,
        height,
        &options,
    )
}

fn resize(
    rgb: &[u8],
    src_w: u32,
    src_h: u32,
    width: u32,
    height: u32,
    options: &ResizeOptions,
) -> Result<Vec<u8>, ComposeError> {
    let src = ImageRef::new(src_w, src_h, rgb, PixelType::U8x3)
        .map_err(|e| ComposeError::Internal(format!("resize source: {e}")))?;
    let mut dst = Image::new(width, height, PixelType::U8x3);
    Resizer::new()
        .resize(&src, &mut dst, options)
        .map_err(|e| ComposeError::Internal(format!("resize: {e}")))?;
    Ok(dst.into_vec())
}

fn fit_with_fill(image: &StillImage, width: u32, height: u32) -> Result<Vec<u8>, ComposeError> {
    let mut canvas = blurred_fill(image, width, height)?;
    let scale = (width as f64 / image.width as f64).min(height as f64 / image.height as f64);
    let fit_w = ((image.width as f64 * scale).round() as u32).clamp(1, width);
    let fit_h = ((image.height as f64 * scale).round() as u32).clamp(1, height);
    let options = ResizeOptions::new().resize_alg(lanczos());
    let fitted = resize(
        &image.rgb,
        image.width,
        image.height,
        fit_w,
        fit_h,
        &options,
    )?;
    let left = ((width - fit_w) / 2) as usize;
    let top = ((height - fit_h) / 2) as usize;
    let row_bytes = fit_w as usize * 3;
    for (row, src) in fitted.chunks_exact(row_bytes).enumerate() {
        let start = ((top + row) * width as usize + left) * 3;
        canvas[start..start + row_bytes].copy_from_slice(src);
    }
    Ok(canvas)
}

/// A cover-scaled, blurred and darkened copy of the image at canvas size.
fn blurred_fill(image: &StillImage, width: u32, height: u32) -> Result<Vec<u8>, ComposeError> {
    let (small_w, small_h) = ((width / 8).max(4), (height / 8).max(4));
    let small = resize_cover(
        image,
        small_w,
        small_h,
        ResizeAlg::Convolution(FilterType::Box),
    )?;
    let mut pixels: Vec<f32> = small.iter().map(|&v| v as f32).collect();
    let radius = (small_w.max(small_h) / 40).max(2) as usize;
    // Three box blurs approximate a Gaussian closely.
    for _ in 0..3 {
        box_blur(&mut pixels, small_w as usize, small_h as usize, radius);
    }
    let dimmed: Vec<u8> = pixels
        .iter()
        .map(|&v| (v * FILL_BRIGHTNESS).round().clamp(0.0, 255.0) as u8)
        .collect();
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    resize(&dimmed, small_w, small_h, width, height, &options)
}

/// One horizontal and one vertical box blur of RGB floats, edges clamped.
fn box_blur(pixels: &mut [f32], width: usize, height: usize, radius: usize) {
    let mut line = Vec::new();
    for y in 0..height {
        blur_line(pixels, y * width * 3, 3, width, radius, &mut line);
    }
    for x in 0..width {
        blur_line(pixels, x * 3, width * 3, height, radius, &mut line);
    }
}

/// Blurs `len` RGB pixels starting at `start`, `stride` floats apart, with a running sum.
fn blur_line(
    pixels: &mut [f32],
    start: usize,
    stride: usize,
    len: usize,
    radius: usize,
    line: &mut Vec<f32>,
) {
    line.clear();
    line.extend((0..len).flat_map(|i| {
        let p = start + i * stride;
        [pixels[p], pixels[p + 1], pixels[p + 2]]
    }));
    let at = |i: isize| i.clamp(0, len as isize - 1) as usize;
    let norm = 1.0 / (2 * radius + 1) as f32;
    for c in 0..3 {
        let mut sum: f32 = (-(radius as isize)..=radius as isize)
            .map(|i| line[at(i) * 3 + c])
            .sum();
        for i in 0..len {
            pixels[start + i * stride + c] = sum * norm;
            let leaving = line[at(i as isize - radius as isize) * 3 + c];
            let entering = line[at(i as isize + radius as isize + 1) * 3 + c];
            sum += entering - leaving;
        }
    }
}

/// Converts an RGB canvas (even width and height) into yuv420p planes.
pub fn rgb_to_canvas(rgb: &[u8], width: usize, height: usize) -> YuvCanvas {
    let mut y = Plane::new(width, height, 16);
    for (out, p) in y.data.iter_mut().zip(rgb.chunks_exact(3)) {
        *out = rgb_to_yuv(p[0], p[1], p[2]).0;
    }
    let (cw, ch) = (width / 2, height / 2);
    let mut cb = Plane::new(cw, ch, 128);
    let mut cr = Plane::new(cw, ch, 128);
    for row in 0..ch {
        let top = &rgb[2 * row * width * 3..][..width * 3];
        let bottom = &rgb[(2 * row + 1) * width * 3..][..width * 3];
        for col in 0..cw {
            let mut sum = [0u16; 3];
            for line in [top, bottom] {
                for p in line[col * 6..col * 6 + 6].chunks_exact(3) {
                    for c in 0..3 {
                        sum[c] += p[c] as u16;
                    }
                }
            }
            let avg = sum.map(|s| ((s + 2) / 4) as u8);
            let (_, u, v) = rgb_to_yuv(avg[0], avg[1], avg[2]);
            cb.data[row * cw + col] = u;
            cr.data[row * cw + col] = v;
        }
    }
    YuvCanvas { y, cb, cr }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_shapes_are_cropped_and_far_ones_fitted() {
        assert_eq!(framing(1920, 1080, 1280, 720), Framing::Cover);
        assert_eq!(framing(1500, 1000, 1280, 720), Framing::Cover);
        assert_eq!(framing(1080, 1920, 1280, 720), Framing::FitWithFill);
        assert_eq!(framing(1000, 1000, 1280, 720), Framing::FitWithFill);
    }

    #[test]
    fn a_portrait_image_is_fitted_over_a_dimmed_blurred_fill() {
        // Pure white, portrait: the fitted part stays white, the sides are dimmed white.
        let image = StillImage {
            width: 90,
            height: 160,
            rgb: vec![255; 90 * 160 * 3],
        };
        let canvas = still_canvas_rgb(&image, 320, 180).unwrap();
        let at = |x: usize, y: usize| canvas[(y * 320 + x) * 3];
        assert_eq!(at(160, 90), 255);
        let side = at(10, 90);
        assert!((130..150).contains(&side), "fill is dimmed: {side}");
    }
}
