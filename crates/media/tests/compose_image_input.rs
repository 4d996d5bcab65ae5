//! Loading stills: accepted formats sniffed from content, and every kind of bad file refused with
//! its stable code. All files are made here, byte by byte where a real encoder would not make them.

use std::io::Cursor;
use std::path::Path;

use image::{ImageEncoder, ImageFormat, RgbImage};
use reelsmith_core::{ErrorCode, Limits};
use reelsmith_media::image_input::{load_image, StillImage};

fn code(path: &Path, limits: &Limits) -> &'static str {
    load_image(path, limits).unwrap_err().code().as_str()
}

/// 40×20: left half red, right half blue, so any rotation or flip is visible.
fn two_tone() -> RgbImage {
    RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            image::Rgb([230, 20, 20])
        } else {
            image::Rgb([20, 20, 230])
        }
    })
}

fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    bytes
}

fn pixel(img: &StillImage, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * img.width + x) * 3) as usize;
    [img.rgb[i], img.rgb[i + 1], img.rgb[i + 2]]
}

fn is_red(p: [u8; 3]) -> bool {
    p[0] > 150 && p[2] < 100
}

fn is_blue(p: [u8; 3]) -> bool {
    p[2] > 150 && p[0] < 100
}

#[test]
fn every_accepted_format_is_sniffed_from_content_not_extension() {
    let dir = tempfile::tempdir().unwrap();
    let image = two_tone();
    let files = [
        ("a.bin", jpeg(&image)),
        ("b.jpg", encode(&image, ImageFormat::Png)), // a PNG with the wrong extension
        ("c", encode(&image, ImageFormat::WebP)),
        ("d.png", encode(&image, ImageFormat::Gif)),
        ("e.dat", encode(&image, ImageFormat::Bmp)),
    ];
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let still = load_image(&path, &Limits::default()).unwrap();
        assert_eq!((still.width, still.height), (40, 20), "{name}");
        assert!(
            is_red(pixel(&still, 5, 10)),
            "{name}: {:?}",
            pixel(&still, 5, 10)
        );
        assert!(
            is_blue(pixel(&still, 35, 10)),
            "{name}: {:?}",
            pixel(&still, 35, 10)
        );
    }
}

/// The PNG CRC-32 (ISO-HDLC polynomial), bit by bit.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
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

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend(data);
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
}

/// A well-formed PNG header (valid CRCs) claiming a huge image, followed by a token IDAT.
fn forged_png(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    png_chunk(&mut png, b"IHDR", &ihdr);
    png_chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    png_chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn a_forged_huge_png_header_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.png");
    std::fs::write(&path, forged_png(100_000, 100_000)).unwrap();
    assert_eq!(code(&path, &Limits::default()), "image.too_many_pixels");
    let err = load_image(&path, &Limits::default()).unwrap_err();
    assert!(err.is_client_error());
    assert!(err.to_string().contains("100000"), "{err}");
}

#[test]
fn a_real_image_over_the_pixel_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.png");
    std::fs::write(&path, encode(&two_tone(), ImageFormat::Png)).unwrap();
    let limits = Limits {
        max_image_pixels: 799,
        ..Limits::default()
    };
    assert_eq!(code(&path, &limits), "image.too_many_pixels");
    let limits = Limits {
        max_image_pixels: 800,
        ..Limits::default()
    };
    assert!(load_image(&path, &limits).is_ok());
}

#[test]
fn text_named_jpg_is_an_unsupported_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.jpg");
    std::fs::write(&path, "this is not a picture, just some words\n").unwrap();
    assert_eq!(code(&path, &Limits::default()), "image.unsupported_format");
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(code(&empty, &Limits::default()), "image.unsupported_format");
    // A format the image crate knows but we do not accept (TGA has no magic, so use TIFF's).
    let tiff = dir.path().join("t.jpg");
    std::fs::write(&tiff, b"II*\x00\x08\x00\x00\x00\x00\x00").unwrap();
    assert_eq!(code(&tiff, &Limits::default()), "image.unsupported_format");
}

#[test]
fn truncated_files_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    // Noise compresses badly, so the scan data is long and the cut lands inside it.
    let noisy = RgbImage::from_fn(64, 64, |x, y| {
        let v = (x * 7919 + y * 104_729) % 251;
        image::Rgb([v as u8, (v * 3 % 256) as u8, (v * 7 % 256) as u8])
    });
    let whole = jpeg(&noisy);
    let full = dir.path().join("full.jpg");
    std::fs::write(&full, &whole).unwrap();
    assert!(load_image(&full, &Limits::default()).is_ok());
    for keep in [whole.len() * 3 / 5, whole.len() - 2, 200] {
        let cut = dir.path().join(format!("cut{keep}.jpg"));
        std::fs::write(&cut, &whole[..keep]).unwrap();
        assert_eq!(
            code(&cut, &Limits::default()),
            "image.corrupt",
            "kept {keep}"
        );
    }
    let png = encode(&noisy, ImageFormat::Png);
    let cut_png = dir.path().join("cut.png");
    std::fs::write(&cut_png, &png[..png.len() / 2]).unwrap();
    assert_eq!(code(&cut_png, &Limits::default()), "image.corrupt");
}

#[test]
fn a_file_over_the_byte_limit_is_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.png");
    let bytes = encode(&two_tone(), ImageFormat::Png);
    std::fs::write(&path, &bytes).unwrap();
    let limits = Limits {
        max_file_bytes: bytes.len() as u64 - 1,
        ..Limits::default()
    };
    assert_eq!(code(&path, &limits), "image.too_large");
    assert_eq!(
        code(&dir.path().join("missing.png"), &Limits::default()),
        "image.io"
    );
}

/// An APP1 segment holding a minimal little-endian EXIF block with only an Orientation tag.
fn exif_app1(orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\x00".to_vec();
    tiff.extend(8u32.to_le_bytes()); // IFD0 right after the header
    tiff.extend(1u16.to_le_bytes()); // one entry
    tiff.extend(0x0112u16.to_le_bytes()); // Orientation
    tiff.extend(3u16.to_le_bytes()); // SHORT
    tiff.extend(1u32.to_le_bytes()); // count
    tiff.extend(orientation.to_le_bytes());
    tiff.extend([0, 0]); // value padding to four bytes
    tiff.extend(0u32.to_le_bytes()); // no next IFD
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend(tiff);
    let mut segment = vec![0xFF, 0xE1];
    segment.extend(((payload.len() + 2) as u16).to_be_bytes());
    segment.extend(payload);
    segment
}

fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend(exif_app1(orientation));
    out.extend(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let plain = jpeg(&two_tone());
    // 6: the stored picture must be turned 90° clockwise: its left (red) half ends up on top.
    let path = dir.path().join("rotated.jpg");
    std::fs::write(&path, with_exif(&plain, 6)).unwrap();
    let still = load_image(&path, &Limits::default()).unwrap();
    assert_eq!((still.width, still.height), (20, 40));
    assert!(is_red(pixel(&still, 10, 5)), "{:?}", pixel(&still, 10, 5));
    assert!(
        is_blue(pixel(&still, 10, 35)),
        "{:?}",
        pixel(&still, 10, 35)
    );
    // 3: turned half way round: red ends up on the right.
    let path = dir.path().join("upside_down.jpg");
    std::fs::write(&path, with_exif(&plain, 3)).unwrap();
    let still = load_image(&path, &Limits::default()).unwrap();
    assert_eq!((still.width, still.height), (40, 20));
    assert!(is_red(pixel(&still, 35, 10)) && is_blue(pixel(&still, 5, 10)));
    // 1: as stored.
    let path = dir.path().join("upright.jpg");
    std::fs::write(&path, with_exif(&plain, 1)).unwrap();
    let still = load_image(&path, &Limits::default()).unwrap();
    assert!(is_red(pixel(&still, 5, 10)));
}
