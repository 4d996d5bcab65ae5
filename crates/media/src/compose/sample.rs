//! The per-frame hot path: sampling a prepared canvas at a sub-pixel camera position into a
//! yuv420p frame, and blending two frames for a crossfade.
//!
//! A Ken Burns camera only scales and translates, never rotates, so the mapping from output to
//! canvas is separable: every output column reads the same canvas columns on every row, and every
//! output row reads the same two canvas rows. So per frame we build two small tables (for each
//! output column: left canvas column and 8-bit weight; likewise for rows), then per output row:
//! 1. blend the two canvas rows vertically into a 16-bit scratch row: a straight, branch-free loop
//!    over contiguous memory that the compiler vectorises;
//! 2. gather horizontally through the column table.
//!
//! This is bilinear interpolation in fixed point with 1/256-pixel weights (a quantisation of at
//! most 1/512 pixel, far below what anyone can see). The canvas was prepared at the resolution
//! of the most zoomed-in view, so sampling never minifies by more than 1.15×, where bilinear
//! is still alias-free in practice. No allocation happens per frame once the scratch buffers have
//! grown to size.

// The workspace denies `unsafe_code`; this module needs it because the AVX2 kernels are `unsafe` intrinsics, called only after runtime CPU detection.
// Each block says why it is sound in its `SAFETY:` comment (clippy checks they are there).
#![allow(unsafe_code)]

use crate::frame::Yuv420Frame;

use super::motion::Camera;

/// One 8-bit image plane, rows packed without padding.
#[derive(Clone, PartialEq, Eq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Plane {
    pub fn new(width: usize, height: usize, fill: u8) -> Plane {
        Plane {
            width,
            height,
            data: vec![fill; width * height],
        }
    }
}

/// A picture in yuv420p planes: luma at full size, chroma at half size in both directions.
#[derive(Clone, PartialEq, Eq)]
pub struct YuvCanvas {
    pub y: Plane,
    pub cb: Plane,
    pub cr: Plane,
}

impl YuvCanvas {
    pub fn width(&self) -> usize {
        self.y.width
    }

    pub fn height(&self) -> usize {
        self.y.height
    }
}

/// For each output coordinate along one axis: the first of the two source samples it reads, and
/// the weight of the second one in 1/256ths.
#[derive(Default)]
struct AxisMap {
    index: Vec<u32>,
    weight: Vec<u16>,
    /// `Some(weight)` when every output sample reads the next source sample after the previous
    /// one's with the same weight: the table is then a shift, and needs no gather.
    shift: Option<u16>,
}

impl AxisMap {
    /// Output sample `o` (its centre at `o + 0.5`) reads source coordinate `start + (o + 0.5) *
    /// step - 0.5`, clamped to the source.
    fn build(&mut self, out_len: usize, src_len: usize, start: f64, step: f64) {
        self.index.clear();
        self.weight.clear();
        let last = (src_len.max(2) - 2) as f64;
        for o in 0..out_len {
            let pos = (start + (o as f64 + 0.5) * step - 0.5).clamp(0.0, (src_len - 1) as f64);
            let left = pos.floor().min(last);
            let weight = ((pos - left) * 256.0).round() as u16;
            self.index.push(left as u32);
            self.weight.push(weight.min(256));
        }
        let shift = self.weight[0];
        let uniform = self.weight.iter().all(|&w| w == shift)
            && self.index.windows(2).all(|p| p[1] == p[0] + 1)
            // The shift reads `index + 1`, which must be inside the source.
            && self.index.last().is_some_and(|&last| last as usize + 1 < src_len);
        self.shift = uniform.then_some(shift);
    }

    /// `Some(offset)` when output sample `o` reads exactly source sample `o + offset` for every
    /// `o` (a weight of 256 on the last pair reads its right-hand sample exactly).
    fn identity_offset(&self) -> Option<u32> {
        let position = |o: usize| self.index[o] * 256 + self.weight[o] as u32;
        let first = position(0);
        if first % 256 != 0 {
            return None;
        }
        (0..self.index.len())
            .all(|o| position(o) == first + o as u32 * 256)
            .then_some(first / 256)
    }
}

/// The two axis tables of one plane for one frame, and whether they are a plain copy.
#[derive(Default)]
struct PlaneMap {
    columns: AxisMap,
    rows: AxisMap,
    /// `Some((x0, y0))` when the view is the canvas 1:1 at a whole-pixel offset.
    copy_from: Option<(usize, usize)>,
}

impl PlaneMap {
    fn build(&mut self, src: &Plane, camera: Camera, ow: usize, oh: usize) {
        let (sw, sh) = (src.width as f64, src.height as f64);
        let view_w = sw / camera.zoom;
        let view_h = sh / camera.zoom;
        let left = camera.centre_x * sw - view_w / 2.0;
        let top = camera.centre_y * sh - view_h / 2.0;
        self.columns.build(ow, src.width, left, view_w / ow as f64);
        self.rows.build(oh, src.height, top, view_h / oh as f64);
        self.copy_from = match (self.columns.identity_offset(), self.rows.identity_offset()) {
            (Some(x0), Some(y0)) => Some((x0 as usize, y0 as usize)),
            _ => None,
        };
    }
}

/// Reusable per-frame state for [`Sampler::render`].
pub struct Sampler {
    luma: PlaneMap,
    /// Cb and Cr have the same size, so they share one map.
    chroma: PlaneMap,
    /// One scratch row per band.
    scratch: Vec<Vec<u16>>,
    bands: usize,
    kernel: Kernel,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::with_bands(1)
    }
}

/// One band of output rows of one plane.
struct Band<'a> {
    kernel: Kernel,
    src: &'a Plane,
    map: &'a PlaneMap,
    first_row: usize,
    out: &'a mut [u8],
    ow: usize,
}

impl Band<'_> {
    fn render(self, scratch: &mut Vec<u16>) {
        let rows = self.out.len() / self.ow;
        let range = self.first_row..self.first_row + rows;
        match self.map.copy_from {
            Some((x0, y0)) => copy_rows(self.src, x0, y0 + self.first_row, self.out, self.ow),
            None => warp(
                self.kernel,
                self.src,
                &self.map.columns,
                &self.map.rows.index[range.clone()],
                &self.map.rows.weight[range],
                scratch,
                self.out,
                self.ow,
            ),
        }
    }
}

impl Sampler {
    /// A sampler that splits every frame into `bands` horizontal bands rendered on as many
    /// threads (1: all on the caller's thread). Every output row is computed by the same code
    /// from the same tables whichever band it falls in, so the frames are identical for any
    /// number of bands.
    pub fn with_bands(bands: usize) -> Sampler {
        Sampler {
            luma: PlaneMap::default(),
            chroma: PlaneMap::default(),
            scratch: Vec::new(),
            bands: bands.max(1),
            kernel: Kernel::pick(),
        }
    }

    /// The same sampler with the portable loops only, to check the vectorised ones against.
    #[cfg(test)]
    fn portable(mut self) -> Sampler {
        self.kernel = Kernel::Portable;
        self
    }

    /// Renders the part of `canvas` the camera sees into `out`.
    pub fn render(&mut self, canvas: &YuvCanvas, camera: Camera, out: &mut Yuv420Frame) {
        let size = out.size();
        let (ow, oh) = (size.width as usize, size.height as usize);
        self.luma.build(&canvas.y, camera, ow, oh);
        self.chroma.build(&canvas.cb, camera, ow / 2, oh / 2);
        let bands = self.bands.min(oh / 2).max(1);
        self.scratch.resize_with(bands, Vec::new);
        let (y_out, cb_out, cr_out) = out.planes_mut();
        let mut work: Vec<Vec<Band>> = (0..bands).map(|_| Vec::with_capacity(3)).collect();
        for (src, map, plane_out, width) in [
            (&canvas.y, &self.luma, y_out, ow),
            (&canvas.cb, &self.chroma, cb_out, ow / 2),
            (&canvas.cr, &self.chroma, cr_out, ow / 2),
        ] {
            let height = plane_out.len() / width;
            let mut rest = plane_out;
            let mut first_row = 0;
            for (b, tasks) in work.iter_mut().enumerate() {
                let end = height * (b + 1) / bands;
                let (band, tail) = rest.split_at_mut((end - first_row) * width);
                tasks.push(Band {
                    kernel: self.kernel,
                    src,
                    map,
                    first_row,
                    out: band,
                    ow: width,
                });
                rest = tail;
                first_row = end;
            }
        }
        let mut scratch = self.scratch.iter_mut();
        let mut work = work.into_iter();
        let (Some(own), Some(own_scratch)) = (work.next(), scratch.next()) else {
            return;
        };
        std::thread::scope(|scope| {
            for (tasks, scratch) in work.zip(scratch) {
                scope.spawn(move || tasks.into_iter().for_each(|t| t.render(scratch)));
            }
            own.into_iter().for_each(|t| t.render(own_scratch));
        });
    }
}

fn copy_rows(src: &Plane, x0: usize, y0: usize, out: &mut [u8], ow: usize) {
    for (r, out_row) in out.chunks_exact_mut(ow).enumerate() {
        let start = (y0 + r) * src.width + x0;
        out_row.copy_from_slice(&src.data[start..start + ow]);
    }
}

#[allow(clippy::too_many_arguments)]
fn warp(
    kernel: Kernel,
    src: &Plane,
    columns: &AxisMap,
    row_index: &[u32],
    row_weight: &[u16],
    scratch: &mut Vec<u16>,
    out: &mut [u8],
    ow: usize,
) {
    // Only the canvas columns the view touches are blended vertically.
    let (Some(&first), Some(&last)) = (columns.index.first(), columns.index.last()) else {
        return; // a view no column wide draws nothing
    };
    let first = first as usize;
    let last = (last as usize + 1).min(src.width - 1);
    let span = last + 1 - first;
    scratch.resize(span, 0);
    for ((out_row, &r), &wy) in out.chunks_exact_mut(ow).zip(row_index).zip(row_weight) {
        let r0 = r as usize;
        let r1 = (r0 + 1).min(src.height - 1);
        let row0 = &src.data[r0 * src.width + first..][..span];
        let row1 = &src.data[r1 * src.width + first..][..span];
        kernel.blend_rows(row0, row1, wy, scratch);
        match columns.shift {
            Some(weight) => kernel.shift_row(scratch, weight, out_row),
            None => kernel.gather_row(
                scratch,
                &columns.index,
                &columns.weight,
                first as u32,
                out_row,
            ),
        }
    }
}

/// The inner loops, in the best version the processor runs. Every version does the same integer
/// arithmetic, so they give the same bytes; the AVX2 ones are the portable loops compiled with
/// 256-bit vectors, plus a hardware gather for the horizontal pass of a zoom.
#[derive(Clone, Copy)]
enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Kernel {
    fn pick() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Kernel::Avx2;
        }
        Kernel::Portable
    }

    #[inline]
    fn blend_rows(self, row0: &[u8], row1: &[u8], w: u16, out: &mut [u16]) {
        match self {
            Kernel::Portable => blend_rows(row0, row1, w, out),
            // SAFETY: `pick` chose this kernel because the processor has AVX2.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::blend_rows(row0, row1, w, out) },
        }
    }

    #[inline]
    fn shift_row(self, scratch: &[u16], weight: u16, out: &mut [u8]) {
        match self {
            Kernel::Portable => shift_row(scratch, weight, out),
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::shift_row(scratch, weight, out) },
        }
    }

    #[inline]
    fn gather_row(
        self,
        scratch: &[u16],
        index: &[u32],
        weight: &[u16],
        first: u32,
        out: &mut [u8],
    ) {
        match self {
            Kernel::Portable => gather_row(scratch, index, weight, first, out),
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::gather_row(scratch, index, weight, first, out) },
        }
    }
}

/// `out[i] = row0[i] * (256 - w) + row1[i] * w`, kept at 16 bits (at most 255 × 256).
#[inline(always)]
fn blend_rows(row0: &[u8], row1: &[u8], w: u16, out: &mut [u16]) {
    let w0 = 256 - w;
    for ((o, &a), &b) in out.iter_mut().zip(row0).zip(row1) {
        *o = a as u16 * w0 + b as u16 * w;
    }
}

/// The horizontal pass when every output column reads the canvas one column apart with the same
/// weight (a pan, or a still view: the view is the canvas at 1:1 shifted by a fraction of a
/// pixel): the same formula as [`gather_row`], over contiguous memory, which vectorises.
#[inline(always)]
fn shift_row(scratch: &[u16], weight: u16, out: &mut [u8]) {
    let w = weight as u32;
    let next = &scratch[1..];
    for ((o, &a), &b) in out.iter_mut().zip(scratch).zip(next) {
        *o = ((a as u32 * (256 - w) + b as u32 * w + 32768) >> 16) as u8;
    }
}

/// Horizontal interpolation of the vertically blended row, with rounding back to 8 bits.
#[inline(always)]
fn gather_row(scratch: &[u16], index: &[u32], weight: &[u16], first: u32, out: &mut [u8]) {
    check_gather(scratch, index, weight, first, out);
    for ((o, &i), &w) in out.iter_mut().zip(index).zip(weight) {
        let i = (i - first) as usize;
        // SAFETY: `first <= i_table <= last` for every entry (monotonic table, checked by
        // `check_gather`), so `i + 1 <= last - first + 1 < scratch.len()`.
        let (a, b) = unsafe {
            (
                *scratch.get_unchecked(i) as u32,
                *scratch.get_unchecked(i + 1) as u32,
            )
        };
        let w = w as u32;
        *o = ((a * (256 - w) + b * w + 32768) >> 16) as u8;
    }
}

/// Checked once per row so the gathers can index without checks: the column table is
/// monotonic, so its last entry is its largest.
#[inline(always)]
fn check_gather(scratch: &[u16], index: &[u32], weight: &[u16], first: u32, out: &[u8]) {
    let Some(&last) = index.last() else {
        assert!(weight.is_empty() && out.is_empty());
        return;
    };
    assert!(index[0] >= first && ((last - first) as usize) + 1 < scratch.len());
    assert!(index.len() == out.len() && weight.len() == out.len());
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    pub unsafe fn blend_rows(row0: &[u8], row1: &[u8], w: u16, out: &mut [u16]) {
        super::blend_rows(row0, row1, w, out)
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn shift_row(scratch: &[u16], weight: u16, out: &mut [u8]) {
        super::shift_row(scratch, weight, out)
    }

    /// Eight outputs per hardware gather: one 32-bit load at `scratch[i]` brings both
    /// `scratch[i]` (low half) and `scratch[i + 1]` (high half).
    #[target_feature(enable = "avx2")]
    pub unsafe fn gather_row(
        scratch: &[u16],
        index: &[u32],
        weight: &[u16],
        first: u32,
        out: &mut [u8],
    ) {
        super::check_gather(scratch, index, weight, first, out);
        let n = out.len();
        let base = scratch.as_ptr() as *const i32;
        let mut k = 0;
        while k + 16 <= n {
            let (lo, hi) = (
                eight(base, index, weight, first, k),
                eight(base, index, weight, first, k + 8),
            );
            // 32 → 16 bits works within 128-bit lanes: restore the order, then 16 → 8 bits.
            let words = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi32(lo, hi));
            let bytes = _mm_packus_epi16(
                _mm256_castsi256_si128(words),
                _mm256_extracti128_si256::<1>(words),
            );
            _mm_storeu_si128(out.as_mut_ptr().add(k) as *mut __m128i, bytes);
            k += 16;
        }
        if k < n {
            super::gather_row(scratch, &index[k..], &weight[k..], first, &mut out[k..]);
        }
    }

    /// Outputs `k..k + 8`, as 32-bit lanes.
    ///
    /// # Safety
    /// AVX2; `k + 8 <= index.len() == weight.len()`, and every `index - first` is within
    /// `scratch` (at `base`) with its right-hand neighbour, so each 4-byte load reads two of its
    /// elements.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn eight(
        base: *const i32,
        index: &[u32],
        weight: &[u16],
        first: u32,
        k: usize,
    ) -> __m256i {
        let idx = _mm256_sub_epi32(
            _mm256_loadu_si256(index.as_ptr().add(k) as *const __m256i),
            _mm256_set1_epi32(first as i32),
        );
        let pair = _mm256_i32gather_epi32::<2>(base, idx);
        let a = _mm256_and_si256(pair, _mm256_set1_epi32(0xffff));
        let b = _mm256_srli_epi32::<16>(pair);
        let w = _mm256_cvtepu16_epi32(_mm_loadu_si128(weight.as_ptr().add(k) as *const __m128i));
        let sum = _mm256_add_epi32(
            _mm256_add_epi32(
                _mm256_mullo_epi32(a, _mm256_sub_epi32(_mm256_set1_epi32(256), w)),
                _mm256_mullo_epi32(b, w),
            ),
            _mm256_set1_epi32(32768),
        );
        _mm256_srli_epi32::<16>(sum)
    }
}

/// Crossfade: `out = under × (1 − t) + over × t`, with `t` in 1/256ths.
pub fn blend_frames(under: &mut Yuv420Frame, over: &Yuv420Frame, t: u16) {
    let t = t.min(256);
    let keep = 256 - t;
    let dst = under.planes_mut();
    let src = over.planes();
    for (d, s) in [(dst.0, src.0), (dst.1, src.1), (dst.2, src.2)] {
        for (a, &b) in d.iter_mut().zip(s) {
            *a = ((*a as u16 * keep + b as u16 * t + 128) >> 8) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelsmith_core::FrameSize;

    fn ramp_canvas(w: usize, h: usize) -> YuvCanvas {
        let mut y = Plane::new(w, h, 0);
        for (i, p) in y.data.iter_mut().enumerate() {
            *p = ((i % w) * 2 + (i / w)) as u8;
        }
        YuvCanvas {
            y,
            cb: Plane::new(w / 2, h / 2, 100),
            cr: Plane::new(w / 2, h / 2, 150),
        }
    }

    #[test]
    fn a_whole_canvas_of_frame_size_is_copied_exactly() {
        let canvas = ramp_canvas(16, 8);
        let mut out = Yuv420Frame::black(FrameSize::new(16, 8));
        let camera = Camera {
            zoom: 1.0,
            centre_x: 0.5,
            centre_y: 0.5,
        };
        Sampler::default().render(&canvas, camera, &mut out);
        let (y, u, v) = out.planes();
        assert_eq!(y, &canvas.y.data[..]);
        assert!(u.iter().all(|&c| c == 100) && v.iter().all(|&c| c == 150));
    }

    /// Bands on other threads must not change a single byte, whatever the motion and whatever
    /// the number of bands (including more bands than divide the height evenly).
    #[test]
    fn banded_rendering_is_identical_to_one_thread() {
        let (w, h) = (300, 170);
        let mut canvas = ramp_canvas(w, h);
        for (i, p) in canvas.cb.data.iter_mut().enumerate() {
            *p = (i * 7 % 251) as u8;
        }
        for (i, p) in canvas.cr.data.iter_mut().enumerate() {
            *p = (i * 13 % 239) as u8;
        }
        let size = FrameSize::new(256, 144);
        let cameras = [
            Camera {
                zoom: 1.0,
                centre_x: 0.5,
                centre_y: 0.5,
            },
            Camera {
                zoom: 1.07,
                centre_x: 0.48,
                centre_y: 0.53,
            },
            Camera {
                zoom: 1.15,
                centre_x: 0.5 + 0.37 / w as f64,
                centre_y: 0.5,
            },
        ];
        let mut single = Sampler::default();
        for camera in cameras {
            let mut expected = Yuv420Frame::black(size);
            single.render(&canvas, camera, &mut expected);
            for bands in [2, 3, 7] {
                let mut out = Yuv420Frame::black(size);
                Sampler::with_bands(bands).render(&canvas, camera, &mut out);
                assert!(out == expected, "{bands} bands, {camera:?}");
            }
        }
    }

    /// Bilinear interpolation straight from its definition, from the same axis tables.
    fn reference(src: &Plane, camera: Camera, ow: usize, oh: usize) -> Vec<u8> {
        let mut map = PlaneMap::default();
        map.build(src, camera, ow, oh);
        let mut out = Vec::with_capacity(ow * oh);
        for y in 0..oh {
            let (r0, wy) = (map.rows.index[y] as usize, map.rows.weight[y] as u32);
            let r1 = (r0 + 1).min(src.height - 1);
            for x in 0..ow {
                let (c0, wx) = (map.columns.index[x] as usize, map.columns.weight[x] as u32);
                let c1 = (c0 + 1).min(src.width - 1);
                let at = |r: usize, c: usize| src.data[r * src.width + c] as u32;
                let top = at(r0, c0) * (256 - wx) + at(r0, c1) * wx;
                let bottom = at(r1, c0) * (256 - wx) + at(r1, c1) * wx;
                out.push(((top * (256 - wy) + bottom * wy + 32768) >> 16) as u8);
            }
        }
        out
    }

    /// The vectorised loops (the shift of a pan, the gather of a zoom, in every kernel the
    /// processor offers) give exactly the bytes of bilinear interpolation by its definition,
    /// including widths that are not a multiple of the vector length.
    #[test]
    fn every_kernel_computes_exact_bilinear_interpolation() {
        let (w, h) = (347, 197);
        let mut canvas = ramp_canvas(w, h);
        let mut state = 7u64;
        for p in canvas
            .y
            .data
            .iter_mut()
            .chain(canvas.cb.data.iter_mut())
            .chain(canvas.cr.data.iter_mut())
        {
            *p = (super::super::motion::splitmix64(&mut state) >> 56) as u8;
        }
        let size = FrameSize::new(302, 172);
        let mut cameras = Vec::new();
        for motion in [
            super::super::motion::CameraMotion::PanLeft,
            super::super::motion::CameraMotion::PanUp,
            super::super::motion::CameraMotion::ZoomIn,
            super::super::motion::CameraMotion::ZoomOut,
        ] {
            for k in 0..12 {
                cameras.push(super::super::motion::camera(
                    motion,
                    (k as f64 + 0.5) / 12.0,
                ));
            }
        }
        cameras.push(Camera {
            zoom: 1.0,
            centre_x: 0.5,
            centre_y: 0.5,
        });
        // Views at exactly 1:1 on the luma canvas, at sub-pixel offsets: the shift path.
        for k in 0..8 {
            cameras.push(Camera {
                zoom: w as f64 / size.width as f64,
                centre_x: 0.5 + k as f64 * 0.0131,
                centre_y: 0.5 - k as f64 * 0.0077,
            });
        }
        let mut fast = Sampler::default();
        let mut portable = Sampler::default().portable();
        let (ow, oh) = (size.width as usize, size.height as usize);
        for camera in cameras {
            let mut a = Yuv420Frame::black(size);
            let mut b = Yuv420Frame::black(size);
            fast.render(&canvas, camera, &mut a);
            portable.render(&canvas, camera, &mut b);
            let (y, u, v) = a.planes();
            assert!(
                y == &reference(&canvas.y, camera, ow, oh)[..],
                "luma, {camera:?}"
            );
            assert!(
                u == &reference(&canvas.cb, camera, ow / 2, oh / 2)[..],
                "cb, {camera:?}"
            );
            assert!(
                v == &reference(&canvas.cr, camera, ow / 2, oh / 2)[..],
                "cr, {camera:?}"
            );
            assert!(a == b, "portable and vectorised kernels differ, {camera:?}");
        }
    }

    /// A pan's column table is a shift (no gather), a zoom's is not.
    #[test]
    fn pans_take_the_shift_path_and_zooms_the_gather() {
        let src = Plane::new(1472, 828, 0);
        let mut map = PlaneMap::default();
        let pan = super::super::motion::camera(super::super::motion::CameraMotion::PanLeft, 0.37);
        map.build(&src, pan, 1280, 720);
        assert!(map.columns.shift.is_some());
        let zoom = super::super::motion::camera(super::super::motion::CameraMotion::ZoomIn, 0.37);
        map.build(&src, zoom, 1280, 720);
        assert!(map.columns.shift.is_none());
    }

    #[test]
    fn a_half_pixel_shift_averages_neighbours() {
        let canvas = ramp_canvas(32, 16);
        let mut out = Yuv420Frame::black(FrameSize::new(16, 8));
        // Zoom 2 over a 32-wide canvas shows 16 columns 1:1; move half a canvas pixel right.
        let camera = Camera {
            zoom: 2.0,
            centre_x: 0.5 + 0.5 / 32.0,
            centre_y: 0.5,
        };
        Sampler::default().render(&canvas, camera, &mut out);
        let (y, _, _) = out.planes();
        // Column 0 reads canvas x = 8.5 on row 4: (8*2+4 + 9*2+4) / 2 = 21.
        assert_eq!(y[0], 21);
    }
}
