//! Cleaning an uploaded image before it is stored (P-IN-3). Metadata blocks (EXIF with GPS
//! positions and camera serials, XMP, IPTC, ICC profiles, comments, text chunks) can hide in
//! many places in many formats; removing them one by one is a losing game. Instead the pixels
//! are decoded, under the same pixel limits as the engine's own image input, and encoded afresh
//! by an encoder that writes no metadata at all: JPEG, or PNG when the image has transparency
//! worth keeping. The orientation the camera recorded is applied to the pixels first, so the
//! picture still looks the way it did once its EXIF is gone.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageReader};
use reelsmith_core::Limits;

use crate::image_input::{decode_image, ImageError};

/// JPEG quality of re-encoded photos: visually lossless for uploads that are themselves JPEGs.
pub const JPEG_QUALITY: u8 = 92;

/// An image as it is stored: freshly encoded bytes with nothing but pixels in them.
#[derive(Clone, PartialEq, Eq)]
pub struct CleanImage {
    pub bytes: Vec<u8>,
    /// `image/jpeg` or `image/png`.
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Debug for CleanImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CleanImage({} {}x{}, {} bytes)",
            self.mime,
            self.width,
            self.height,
            self.bytes.len()
        )
    }
}

/// Decodes `bytes` (format sniffed from content, pixel count checked before decoding) and
/// re-encodes it with every metadata block gone.
pub fn sanitize_image(bytes: &[u8], limits: &Limits) -> Result<CleanImage, ImageError> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(ImageError::TooLarge {
            limit: limits.max_file_bytes,
        });
    }
    if header_has_alpha(bytes)? {
        sanitize_with_alpha(bytes, limits)
    } else {
        let still = decode_image(bytes, limits)?;
        encode_jpeg(still.width, still.height, &still.rgb)
    }
}

/// Reads only the header: whether the pixels carry an alpha channel.
fn header_has_alpha(bytes: &[u8]) -> Result<bool, ImageError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(ImageError::Io)?;
    if reader.format().is_none() {
        return Err(ImageError::UnsupportedFormat);
    }
    // Formats `decode_image` refuses are refused there with the right code; here they just
    // take the opaque path.
    match reader.into_decoder() {
        Ok(decoder) => Ok(decoder.color_type().has_alpha()),
        Err(_) => Ok(false),
    }
}

/// The transparent path keeps RGBA, which `decode_image` (made for video frames) drops. It
/// validates through `decode_image` first so format, structure and pixel limits are judged by
/// one set of rules, then decodes once more keeping the alpha channel.
fn sanitize_with_alpha(bytes: &[u8], limits: &Limits) -> Result<CleanImage, ImageError> {
    let checked = decode_image(bytes, limits)?;
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(ImageError::Io)?;
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    let orientation = decoder
        .orientation()
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|e| ImageError::Corrupt(e.to_string()))?;
    image.apply_orientation(orientation);
    let rgba = image.into_rgba8();
    if (rgba.width(), rgba.height()) != (checked.width, checked.height) {
        return Err(ImageError::Corrupt(
            "the image decoded to different sizes on two reads".into(),
        ));
    }
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            rgba.as_raw(),
            rgba.width(),
            rgba.height(),
            image::ExtendedColorType::Rgba8,
        )
        .map_err(|e| ImageError::Io(std::io::Error::other(e)))?;
    Ok(CleanImage {
        bytes: out,
        mime: "image/png",
        width: rgba.width(),
        height: rgba.height(),
    })
}

fn encode_jpeg(width: u32, height: u32, rgb: &[u8]) -> Result<CleanImage, ImageError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .write_image(rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| ImageError::Io(std::io::Error::other(e)))?;
    Ok(CleanImage {
        bytes: out,
        mime: "image/jpeg",
        width,
        height,
    })
}

/// The marker bytes (the second byte of each `FF xx` marker) of a JPEG's segments up to the
/// start of scan, for checking what a file carries.
pub fn jpeg_segment_markers(bytes: &[u8]) -> Vec<u8> {
    let mut markers = Vec::new();
    let mut at = 2; // after SOI
    while at + 4 <= bytes.len() && bytes[at] == 0xFF {
        let marker = bytes[at + 1];
        markers.push(marker);
        if marker == 0xDA {
            break;
        }
        let len = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
        at += 2 + len;
    }
    markers
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    fn photo_jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 7) as u8, (y * 5) as u8, 90])
        });
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    /// A big-endian TIFF block: IFD0 with a camera serial (BodySerialNumber) and a pointer to a
    /// GPS IFD holding a latitude reference and a latitude.
    fn exif_with_gps() -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(b"MM\x00\x2A\x00\x00\x00\x08");
        // IFD0 at 8: two entries.
        t.extend_from_slice(&2u16.to_be_bytes());
        // GPSInfo (0x8825), LONG, 1, -> offset 38
        t.extend_from_slice(&[0x88, 0x25, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 38]);
        // BodySerialNumber (0xA431), ASCII, 4 bytes inline: "S12\0"
        t.extend_from_slice(&[0xA4, 0x31, 0x00, 0x02, 0, 0, 0, 4, b'S', b'1', b'2', 0]);
        t.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        assert_eq!(t.len(), 38);
        // GPS IFD at 38: two entries.
        t.extend_from_slice(&2u16.to_be_bytes());
        // GPSLatitudeRef (1), ASCII, 2: "N\0"
        t.extend_from_slice(&[0x00, 0x01, 0x00, 0x02, 0, 0, 0, 2, b'N', 0, 0, 0]);
        // GPSLatitude (2), RATIONAL, 3 -> offset 68
        t.extend_from_slice(&[0x00, 0x02, 0x00, 0x05, 0, 0, 0, 3, 0, 0, 0, 68]);
        t.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(t.len(), 68);
        for (num, den) in [(52u32, 1u32), (31, 1), (1234, 100)] {
            t.extend_from_slice(&num.to_be_bytes());
            t.extend_from_slice(&den.to_be_bytes());
        }
        let mut payload = b"Exif\x00\x00".to_vec();
        payload.extend_from_slice(&t);
        payload
    }

    fn with_segment(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, marker]);
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn p_in_3_gps_exif_xmp_and_comments_are_gone_after_sanitising() {
        let plain = photo_jpeg(64, 48);
        let xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>GPSLatitude 52</x:xmpmeta>";
        let tagged = with_segment(&plain, 0xE1, &exif_with_gps());
        let tagged = with_segment(&tagged, 0xE1, xmp);
        let tagged = with_segment(&tagged, 0xFE, b"camera serial 0042");
        assert!(jpeg_segment_markers(&tagged).contains(&0xE1));
        assert!(contains(&tagged, b"Exif"));

        let clean = sanitize_image(&tagged, &Limits::default()).unwrap();

        assert_eq!(clean.mime, "image/jpeg");
        assert_eq!((clean.width, clean.height), (64, 48));
        let markers = jpeg_segment_markers(&clean.bytes);
        assert!(markers.contains(&0xDA), "no scan found: {markers:x?}");
        for forbidden in [0xE1, 0xE2, 0xED, 0xFE] {
            assert!(
                !markers.contains(&forbidden),
                "segment FF{forbidden:02X} survived: {markers:x?}"
            );
        }
        for needle in [&b"Exif"[..], b"xmpmeta", b"serial", b"S12\0"] {
            assert!(!contains(&clean.bytes, needle));
        }
        // Still the same picture.
        let back = image::load_from_memory(&clean.bytes).unwrap().into_rgb8();
        let original = image::load_from_memory(&plain).unwrap().into_rgb8();
        let px = |img: &RgbImage| img.get_pixel(40, 30).0;
        let (a, b) = (px(&back), px(&original));
        assert!(
            a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 12),
            "{a:?} vs {b:?}"
        );
    }

    #[test]
    fn transparent_png_stays_png_and_loses_its_text_chunks() {
        let img = RgbaImage::from_fn(20, 10, |x, _| Rgba([200, 10, 10, (x * 12) as u8]));
        let mut png = Vec::new();
        PngEncoder::new(&mut png)
            .write_image(img.as_raw(), 20, 10, image::ExtendedColorType::Rgba8)
            .unwrap();
        // Insert a tEXt chunk after IHDR (8-byte signature + 25-byte IHDR chunk).
        let text = b"Comment\x00GPS 52.1 4.3";
        let mut chunk = (text.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(b"tEXt");
        chunk.extend_from_slice(text);
        chunk.extend_from_slice(&crc32(&chunk[4..]).to_be_bytes());
        let mut tagged = png[..33].to_vec();
        tagged.extend_from_slice(&chunk);
        tagged.extend_from_slice(&png[33..]);

        let clean = sanitize_image(&tagged, &Limits::default()).unwrap();
        assert_eq!(clean.mime, "image/png");
        assert!(!contains(&clean.bytes, b"tEXt"));
        assert!(!contains(&clean.bytes, b"GPS"));
        let back = image::load_from_memory(&clean.bytes).unwrap().into_rgba8();
        assert_eq!(back.get_pixel(10, 5).0[3], 120);
    }

    #[test]
    fn text_and_oversized_images_are_refused_with_stable_codes() {
        use reelsmith_core::ErrorCode;
        let err = sanitize_image(b"just some words, not an image", &Limits::default()).unwrap_err();
        assert_eq!(err.code(), "image.unsupported_format");
        let limits = Limits {
            max_image_pixels: 100,
            ..Limits::default()
        };
        let err = sanitize_image(&photo_jpeg(64, 48), &limits).unwrap_err();
        assert_eq!(err.code(), "image.too_many_pixels");
        let limits = Limits {
            max_file_bytes: 10,
            ..Limits::default()
        };
        let err = sanitize_image(&photo_jpeg(8, 8), &limits).unwrap_err();
        assert_eq!(err.code(), "image.too_large");
    }
}
