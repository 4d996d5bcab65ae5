//! Loading a user's still image safely. Uploads are hostile until proven otherwise, so:
//!
//! - the file's size is checked before it is read, and the whole file is read at most once;
//! - the format is sniffed from the content (magic bytes), never from the extension, and only
//!   JPEG, PNG, WebP, GIF (first frame) and BMP are accepted;
//! - the dimensions come from the header and `width × height` is compared with
//!   `Limits::max_image_pixels` before any pixel is decoded, so a forged header claiming
//!   100000×100000 costs nothing; `image::Limits` backs this up inside the decoder;
//! - JPEG decoding in the `image` crate is lenient (a truncated file decodes with the missing part
//!   padded), so the JPEG marker structure is walked first and a file that ends before its EOI
//!   marker is refused as corrupt;
//! - the EXIF orientation is applied, so the pixels we hand on are upright as the camera meant.

use std::io::{Cursor, Read};
use std::path::Path;

use image::{ImageDecoder, ImageFormat, ImageReader};
use reelsmith_core::{Code, ErrorCode, Limits};

/// A decoded still image as 8-bit RGB, orientation already applied.
#[derive(Clone, PartialEq, Eq)]
pub struct StillImage {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for StillImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StillImage({}x{})", self.width, self.height)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the image file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the image is {width}×{height} pixels, more than the limit of {limit} pixels")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the file is not a supported image (JPEG, PNG, WebP, GIF or BMP)")]
    UnsupportedFormat,
    #[error("the image is damaged or truncated: {0}")]
    Corrupt(String),
    #[error("could not read the image: {0}")]
    Io(#[from] std::io::Error),
}

impl ErrorCode for ImageError {
    fn code(&self) -> Code {
        match self {
            ImageError::TooLarge { .. } => Code::ImageTooLarge,
            ImageError::TooManyPixels { .. } => Code::ImageTooManyPixels,
            ImageError::UnsupportedFormat => Code::ImageUnsupportedFormat,
            ImageError::Corrupt(_) => Code::ImageCorrupt,
            ImageError::Io(_) => Code::ImageIo,
        }
    }

    fn is_client_error(&self) -> bool {
        !matches!(self, ImageError::Io(_))
    }
}

const ACCEPTED: [ImageFormat; 5] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Gif,
    ImageFormat::Bmp,
];

/// Loads, checks and decodes an image file into upright RGB.
pub fn load_image(path: &Path, limits: &Limits) -> Result<StillImage, ImageError> {
    let bytes = read_bounded(path, limits.max_file_bytes)?;
    decode_image(&bytes, limits)
}

/// Decodes an image already in memory, with the same checks as [`load_image`] apart from size.
pub fn decode_image(bytes: &[u8], limits: &Limits) -> Result<StillImage, ImageError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(ImageError::Io)?;
    let format = reader.format().ok_or(ImageError::UnsupportedFormat)?;
    if !ACCEPTED.contains(&format) {
        return Err(ImageError::UnsupportedFormat);
    }
    // Refuse on the header's claim before any decoder runs: some decoders read well past the
    // header (PNG up to its first data chunk) before they report dimensions.
    if let Some((width, height)) = declared_size(bytes, format) {
        check_pixels(width, height, limits)?;
    }
    if format == ImageFormat::Jpeg {
        check_jpeg_structure(bytes)?;
    }
    let mut decoder = reader.into_decoder().map_err(header_error)?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, limits)?;
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt("the image has no pixels".into()));
    }
    decoder
        .set_limits(decoder_limits(limits))
        .map_err(header_error)?;
    let orientation = decoder.orientation().map_err(decode_error)?;
    let mut image = image::DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    let rgb = image.into_rgb8();
    Ok(StillImage {
        width: rgb.width(),
        height: rgb.height(),
        rgb: rgb.into_raw(),
    })
}

fn check_pixels(width: u32, height: u32, limits: &Limits) -> Result<(), ImageError> {
    if width as u64 * height as u64 > limits.max_image_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            limit: limits.max_image_pixels,
        });
    }
    Ok(())
}

/// The size a file's header declares, for the formats whose header states it at a fixed place.
fn declared_size(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    let be32 = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let le16 = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?) as u32);
    let le32 = |at: usize| Some(i32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    match format {
        // Signature (8), IHDR length (4), "IHDR" (4), then width and height.
        ImageFormat::Png if bytes.get(12..16) == Some(b"IHDR") => Some((be32(16)?, be32(20)?)),
        // "GIF89a", then the logical screen's width and height.
        ImageFormat::Gif => Some((le16(6)?, le16(8)?)),
        // File header (14), info header size (4), then width and a height that is negative for
        // top-down bitmaps.
        ImageFormat::Bmp => Some((le32(18)?.unsigned_abs(), le32(22)?.unsigned_abs())),
        _ => None,
    }
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ImageError> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() > limit {
        return Err(ImageError::TooLarge { limit });
    }
    // The file may grow between the check and the read; `take` keeps the bound honest.
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ImageError::TooLarge { limit });
    }
    Ok(bytes)
}

fn decoder_limits(limits: &Limits) -> image::Limits {
    let side = limits.max_image_pixels.min(u32::MAX as u64) as u32;
    let mut l = image::Limits::default();
    l.max_image_width = Some(side);
    l.max_image_height = Some(side);
    // RGBA at 16 bits per channel is the largest buffer a decoder may need, plus slack for its
    // own working memory.
    l.max_alloc = Some(
        limits
            .max_image_pixels
            .saturating_mul(8)
            .saturating_add(64 << 20),
    );
    l
}

fn header_error(err: image::ImageError) -> ImageError {
    match err {
        image::ImageError::Unsupported(_) => ImageError::UnsupportedFormat,
        image::ImageError::IoError(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => {
            ImageError::Io(e)
        }
        other => ImageError::Corrupt(other.to_string()),
    }
}

fn decode_error(err: image::ImageError) -> ImageError {
    match err {
        image::ImageError::Unsupported(_) => ImageError::UnsupportedFormat,
        other => ImageError::Corrupt(other.to_string()),
    }
}

/// Walks the JPEG marker segments and the entropy-coded scans, and refuses a file that ends before
/// its EOI marker. Segment lengths are followed rather than searching for `FF D9`, because an EXIF
/// thumbnail inside APP1 carries an EOI of its own.
fn check_jpeg_structure(bytes: &[u8]) -> Result<(), ImageError> {
    let truncated = || ImageError::Corrupt("the JPEG file ends before its end marker".into());
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return Err(ImageError::Corrupt("no JPEG start marker".into()));
    }
    let mut pos = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while pos < bytes.len() && bytes[pos] == 0xFF {
            pos += 1;
        }
        let marker = *bytes.get(pos).ok_or_else(truncated)?;
        if bytes[pos - 1] != 0xFF {
            return Err(ImageError::Corrupt("a JPEG segment is malformed".into()));
        }
        pos += 1;
        match marker {
            0xD9 => return Ok(()),
            0x01 | 0xD0..=0xD7 => continue, // markers without a length
            _ => {}
        }
        let len_bytes = bytes.get(pos..pos + 2).ok_or_else(truncated)?;
        let len = u16::from_be_bytes([len_bytes[0], len_bytes[1]]) as usize;
        if len < 2 {
            return Err(ImageError::Corrupt("a JPEG segment is malformed".into()));
        }
        pos += len;
        if pos > bytes.len() {
            return Err(truncated());
        }
        if marker == 0xDA {
            pos = skip_entropy_coded(bytes, pos).ok_or_else(truncated)?;
        }
    }
}

/// Returns the position of the marker that ends a scan: inside a scan `FF 00` is a stuffed data
/// byte and `FF D0..D7` are restart markers, anything else after `FF` is a real marker.
fn skip_entropy_coded(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let offset = bytes.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        pos += offset;
        let next = *bytes.get(pos + 1)?;
        match next {
            0x00 | 0xD0..=0xD7 | 0xFF => pos += 1,
            _ => return Some(pos),
        }
    }
}
