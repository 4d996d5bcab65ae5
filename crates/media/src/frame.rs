//! Frames as the encoder takes them: 8-bit yuv420p (BT.709, limited range), and overlays
//! (captions) blended onto them. Working in YUV end to end means the encoder receives exactly the
//! bytes we composed, with no colour conversion per frame on either side of the pipe.

// The workspace denies `unsafe_code`; this module needs it because the AVX2 blend kernel is an `unsafe` intrinsic, called only after runtime CPU detection.
// Each block says why it is sound in its `SAFETY:` comment (clippy checks they are there).
#![allow(unsafe_code)]

use reelsmith_core::FrameSize;

/// One yuv420p frame: a full-resolution Y plane followed by quarter-resolution U and V planes.
#[derive(Clone, PartialEq, Eq)]
pub struct Yuv420Frame {
    size: FrameSize,
    data: Vec<u8>,
}

impl std::fmt::Debug for Yuv420Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Yuv420Frame({}x{})", self.size.width, self.size.height)
    }
}

impl Yuv420Frame {
    /// A black frame. Width and height must be even.
    pub fn black(size: FrameSize) -> Self {
        assert!(
            size.width.is_multiple_of(2) && size.height.is_multiple_of(2),
            "yuv420p needs even sizes"
        );
        let luma = size.pixels();
        let mut data = vec![16u8; size.yuv420p_len()];
        data[luma..].fill(128);
        Yuv420Frame { size, data }
    }

    /// Wraps bytes already laid out as yuv420p (decoded video, for instance).
    ///
    /// # Panics
    /// When `data` is not exactly one frame of `size`: that is a bug in the caller, not bad input.
    pub fn from_bytes(size: FrameSize, data: Vec<u8>) -> Self {
        assert_eq!(data.len(), size.yuv420p_len(), "not one yuv420p frame");
        Yuv420Frame { size, data }
    }

    pub fn size(&self) -> FrameSize {
        self.size
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The three planes, mutably: (Y, U, V).
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let luma = self.size.pixels();
        let chroma = luma / 4;
        let (y, rest) = self.data.split_at_mut(luma);
        let (u, v) = rest.split_at_mut(chroma);
        (y, u, v)
    }

    /// The three planes: (Y, U, V).
    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        let luma = self.size.pixels();
        let chroma = luma / 4;
        let (y, rest) = self.data.split_at(luma);
        let (u, v) = rest.split_at(chroma);
        (y, u, v)
    }

    /// Blends an overlay at its position, clipping at the frame's edges.
    ///
    /// Row by row over the visible part, with no branch per pixel: a transparent pixel blends
    /// to exactly the frame's value, so it needs no test, and the loop vectorises.
    pub fn blend(&mut self, overlay: &Overlay) {
        let (fw, fh) = (self.size.width as usize, self.size.height as usize);
        let (y_plane, u_plane, v_plane) = self.planes_mut();
        // Luma at full resolution.
        if let Some(rect) = Clip::new(
            overlay.left,
            overlay.top,
            overlay.width,
            overlay.height,
            fw,
            fh,
        ) {
            for row in 0..rect.rows {
                let f = &mut y_plane[(rect.fy + row) * fw + rect.fx..][..rect.cols];
                let o = (rect.oy + row) * overlay.width as usize + rect.ox;
                blend_row(
                    f,
                    &overlay.luma[o..][..rect.cols],
                    &overlay.alpha[o..][..rect.cols],
                );
            }
        }
        // Chroma at half resolution: overlay positions are even, so 2×2 blocks line up.
        let (cw, ch) = (overlay.width / 2, overlay.height / 2);
        if let Some(rect) = Clip::new(overlay.left / 2, overlay.top / 2, cw, ch, fw / 2, fh / 2) {
            for row in 0..rect.rows {
                let at = (rect.fy + row) * (fw / 2) + rect.fx;
                let o = (rect.oy + row) * cw as usize + rect.ox;
                let alpha = &overlay.chroma_alpha[o..][..rect.cols];
                blend_row(
                    &mut u_plane[at..][..rect.cols],
                    &overlay.cb[o..][..rect.cols],
                    alpha,
                );
                blend_row(
                    &mut v_plane[at..][..rect.cols],
                    &overlay.cr[o..][..rect.cols],
                    alpha,
                );
            }
        }
    }
}

/// The part of a `width × height` picture placed at (`left`, `top`) that falls inside a
/// `fw × fh` plane: its first frame and picture coordinates and its size.
struct Clip {
    fx: usize,
    fy: usize,
    ox: usize,
    oy: usize,
    cols: usize,
    rows: usize,
}

impl Clip {
    fn new(left: i32, top: i32, width: u32, height: u32, fw: usize, fh: usize) -> Option<Clip> {
        let span = |start: i32, len: u32, limit: usize| -> Option<(usize, usize, usize)> {
            let from = (start as i64).max(0);
            let to = (start as i64 + len as i64).min(limit as i64);
            (to > from).then(|| {
                (
                    from as usize,
                    (from - start as i64) as usize,
                    (to - from) as usize,
                )
            })
        };
        let (fx, ox, cols) = span(left, width, fw)?;
        let (fy, oy, rows) = span(top, height, fh)?;
        Some(Clip {
            fx,
            fy,
            ox,
            oy,
            cols,
            rows,
        })
    }
}

/// `frame = mix(frame, over, alpha)` along one row. Dispatches to a copy of the same loop
/// compiled for AVX2 when the processor has it; the arithmetic is integer, so the bytes are the
/// same either way.
fn blend_row(frame: &mut [u8], over: &[u8], alpha: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor supports AVX2, checked just above.
        return unsafe { blend_row_avx2(frame, over, alpha) };
    }
    blend_row_portable(frame, over, alpha)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn blend_row_avx2(frame: &mut [u8], over: &[u8], alpha: &[u8]) {
    blend_row_portable(frame, over, alpha)
}

#[inline(always)]
fn blend_row_portable(frame: &mut [u8], over: &[u8], alpha: &[u8]) {
    for ((f, &o), &a) in frame.iter_mut().zip(over).zip(alpha) {
        *f = mix(*f, o, a);
    }
}

/// `round(under × (255 − alpha) + over × alpha) / 255`, as `(v + 127) / 255` in 16 bits: `v +
/// 127` is at most 255 × 255 + 127 = 65152, and below 65535 `t / 255 = (t + 1 + (t >> 8)) >> 8`
/// exactly (the test `mix_divides_exactly` checks every input), which vectorises where a
/// division does not.
#[inline(always)]
fn mix(under: u8, over: u8, alpha: u8) -> u8 {
    let t = under as u16 * (255 - alpha as u16) + over as u16 * alpha as u16 + 127;
    ((t + 1 + (t >> 8)) >> 8) as u8
}

/// A picture with transparency, pre-converted to yuv420p planes so that blending it onto many
/// frames costs only the blend. `left` and `top` are even so chroma samples line up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub left: i32,
    pub top: i32,
    pub width: u32,
    pub height: u32,
    pub luma: Vec<u8>,
    pub alpha: Vec<u8>,
    pub cb: Vec<u8>,
    pub cr: Vec<u8>,
    pub chroma_alpha: Vec<u8>,
}

impl Overlay {
    /// Converts a straight-alpha RGBA picture (`width × height × 4` bytes). The position is rounded
    /// down to even numbers and an odd width or height is padded with a transparent edge.
    pub fn from_rgba(left: i32, top: i32, width: u32, height: u32, rgba: &[u8]) -> Overlay {
        assert_eq!(rgba.len(), width as usize * height as usize * 4);
        let (w, h) = (width.next_multiple_of(2), height.next_multiple_of(2));
        let (wu, hu) = (w as usize, h as usize);
        let (cw, ch) = (wu / 2, hu / 2);
        let mut overlay = Overlay {
            left: left & !1,
            top: top & !1,
            width: w,
            height: h,
            luma: vec![16u8; wu * hu],
            alpha: vec![0u8; wu * hu],
            cb: vec![128u8; cw * ch],
            cr: vec![128u8; cw * ch],
            chroma_alpha: vec![0u8; cw * ch],
        };
        overlay.repaint(0, 0, w, h, |x, y| {
            if x < width && y < height {
                let i = (y as usize * width as usize + x as usize) * 4;
                [rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3]]
            } else {
                [0; 4]
            }
        });
        overlay
    }

    /// Converts again the pixels of the rectangle from (`left`, `top`) to (`right`, `bottom`)
    /// (exclusive; widened to even bounds so whole chroma blocks are redone), taking each
    /// straight-alpha RGBA pixel from `pixel`. Everything outside keeps its value, and the result
    /// is exactly what [`Overlay::from_rgba`] makes of the whole picture: it is the same code.
    /// Karaoke uses it to recolour only the highlighted word.
    pub fn repaint(
        &mut self,
        left: u32,
        top: u32,
        right: u32,
        bottom: u32,
        pixel: impl Fn(u32, u32) -> [u8; 4],
    ) {
        let (x0, y0) = (left & !1, top & !1);
        let (x1, y1) = (
            right.next_multiple_of(2).min(self.width),
            bottom.next_multiple_of(2).min(self.height),
        );
        let wu = self.width as usize;
        let cw = wu / 2;
        for by in (y0..y1).step_by(2) {
            for bx in (x0..x1).step_by(2) {
                let (mut u_sum, mut v_sum, mut a_sum) = (0u32, 0u32, 0u32);
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (x, y) = (bx + dx, by + dy);
                    let p = pixel(x, y);
                    let (yy, u, v) = rgb_to_yuv(p[0], p[1], p[2]);
                    let i = y as usize * wu + x as usize;
                    self.luma[i] = yy;
                    self.alpha[i] = p[3];
                    // Chroma is averaged weighted by alpha, so edges do not pick up the colour
                    // of transparent pixels.
                    let a = p[3] as u32;
                    u_sum += u as u32 * a;
                    v_sum += v as u32 * a;
                    a_sum += a;
                }
                let ci = (by / 2) as usize * cw + (bx / 2) as usize;
                match (
                    (u_sum + a_sum / 2).checked_div(a_sum),
                    (v_sum + a_sum / 2).checked_div(a_sum),
                ) {
                    (Some(u), Some(v)) => {
                        self.cb[ci] = u as u8;
                        self.cr[ci] = v as u8;
                        // Coverage of the 2×2 block: padded pixels are transparent, so divide
                        // by all four.
                        self.chroma_alpha[ci] = (a_sum / 4) as u8;
                    }
                    // Fully transparent: neutral chroma, as a new overlay starts.
                    _ => (self.cb[ci], self.cr[ci], self.chroma_alpha[ci]) = (128, 128, 0),
                }
            }
        }
    }
}

/// RGB (sRGB, full range) to BT.709 limited-range Y′CbCr, the encoder's tagged colour space.
#[inline]
pub fn rgb_to_yuv(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (r as f32, g as f32, b as f32);
    let y = 16.0 + (0.2126 * r + 0.7152 * g + 0.0722 * b) * (219.0 / 255.0);
    let u = 128.0 + (-0.1146 * r - 0.3854 * g + 0.5 * b) * (224.0 / 255.0);
    let v = 128.0 + (0.5 * r - 0.4542 * g - 0.0458 * b) * (224.0 / 255.0);
    (
        y.round().clamp(0.0, 255.0) as u8,
        u.round().clamp(0.0, 255.0) as u8,
        v.round().clamp(0.0, 255.0) as u8,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_divides_exactly() {
        for under in 0..=255u8 {
            for over in 0..=255u8 {
                for alpha in 0..=255u8 {
                    let exact =
                        ((under as u32 * (255 - alpha as u32) + over as u32 * alpha as u32 + 127)
                            / 255) as u8;
                    assert_eq!(mix(under, over, alpha), exact, "{under} {over} {alpha}");
                }
            }
        }
    }

    #[test]
    fn white_and_black_map_to_limited_range() {
        assert_eq!(rgb_to_yuv(255, 255, 255), (235, 128, 128));
        assert_eq!(rgb_to_yuv(0, 0, 0), (16, 128, 128));
    }

    #[test]
    fn an_opaque_overlay_replaces_and_a_clear_one_leaves_the_frame() {
        let size = FrameSize::new(8, 8);
        let mut frame = Yuv420Frame::black(size);
        let white = [255u8, 255, 255, 255].repeat(4);
        frame.blend(&Overlay::from_rgba(2, 2, 2, 2, &white));
        let (y, u, _) = frame.planes();
        assert_eq!(y[2 * 8 + 2], 235);
        assert_eq!(y[0], 16);
        assert_eq!(u[8 / 2 + 1], 128);
        let before = frame.clone();
        frame.blend(&Overlay::from_rgba(0, 0, 2, 2, &[0u8; 16]));
        assert_eq!(frame, before);
    }

    #[test]
    fn overlays_clip_at_the_edges() {
        let mut frame = Yuv420Frame::black(FrameSize::new(4, 4));
        let white = [255u8, 255, 255, 255].repeat(16);
        frame.blend(&Overlay::from_rgba(2, 2, 4, 4, &white));
        frame.blend(&Overlay::from_rgba(-2, -2, 4, 4, &white));
        let (y, _, _) = frame.planes();
        assert_eq!(y[3 * 4 + 3], 235);
        assert_eq!(y[0], 235);
        assert_eq!(y[3], 16);
    }
}
