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
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::with_bands(1)
    }
}

/// One band of output rows of one plane.
struct Band<'a> {
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
        }
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

fn warp(
    src: &Plane,
    columns: &AxisMap,
    row_index: &[u32],
    row_weight: &[u16],
    scratch: &mut Vec<u16>,
    out: &mut [u8],
    ow: usize,
) {
    // Only the canvas columns the view touches are blended vertically.
    let first = columns.index[0] as usize;
    let last =
        (*columns.index.last().expect("frames are not empty") as usize + 1).min(src.width - 1);
    let span = last + 1 - first;
    scratch.resize(span, 0);
    for ((out_row, &r), &wy) in out.chunks_exact_mut(ow).zip(row_index).zip(row_weight) {
        let r0 = r as usize;
        let r1 = (r0 + 1).min(src.height - 1);
        let row0 = &src.data[r0 * src.width + first..][..span];
        let row1 = &src.data[r1 * src.width + first..][..span];
        blend_rows(row0, row1, wy, scratch);
        gather_row(
            scratch,
            &columns.index,
            &columns.weight,
            first as u32,
            out_row,
        );
    }
}

/// `out[i] = row0[i] * (256 - w) + row1[i] * w`, kept at 16 bits (at most 255 × 256).
#[inline]
fn blend_rows(row0: &[u8], row1: &[u8], w: u16, out: &mut [u16]) {
    let w0 = 256 - w;
    for ((o, &a), &b) in out.iter_mut().zip(row0).zip(row1) {
        *o = a as u16 * w0 + b as u16 * w;
    }
}

/// Horizontal interpolation of the vertically blended row, with rounding back to 8 bits.
#[inline]
fn gather_row(scratch: &[u16], index: &[u32], weight: &[u16], first: u32, out: &mut [u8]) {
    // Checked once here so the loop below can index without checks: the column table is
    // monotonic, so its last entry is its largest.
    let last = *index.last().expect("rows are not empty");
    assert!(index[0] >= first && ((last - first) as usize) + 1 < scratch.len());
    assert!(index.len() == out.len() && weight.len() == out.len());
    for ((o, &i), &w) in out.iter_mut().zip(index).zip(weight) {
        let i = (i - first) as usize;
        // SAFETY: `first <= i_table <= last` for every entry (monotonic table, checked above),
        // so `i + 1 <= last - first + 1 < scratch.len()`.
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
