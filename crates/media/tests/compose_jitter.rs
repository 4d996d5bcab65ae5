//! The jitter meter on synthetic pans whose true motion is known: a smooth sub-pixel pan measures
//! as smooth, and the same pan snapped to whole pixels (what ffmpeg's zoompan does) does not.

use reelsmith_core::FrameSize;
use reelsmith_media::compose::measure_jitter;
use reelsmith_media::frame::Yuv420Frame;

const SIZE: FrameSize = FrameSize::new(320, 180);

/// A band-limited texture defined everywhere, so shifting it by any fraction of a pixel is exact.
fn texture(x: f64, y: f64) -> f64 {
    let waves = [
        (0.031, 0.017, 0.0, 30.0),
        (-0.052, 0.043, 1.3, 25.0),
        (0.087, -0.021, 2.1, 20.0),
        (0.013, 0.071, 0.4, 20.0),
        (0.121, 0.093, 4.0, 12.0),
        (-0.143, 0.057, 5.2, 10.0),
    ];
    128.0
        + waves
            .iter()
            .map(|&(fx, fy, phase, amp)| {
                amp * (std::f64::consts::TAU * (fx * x + fy * y) + phase).sin()
            })
            .sum::<f64>()
}

fn frame_at(offset_x: f64, offset_y: f64) -> Yuv420Frame {
    let mut frame = Yuv420Frame::black(SIZE);
    let w = SIZE.width as usize;
    let (y_plane, _, _) = frame.planes_mut();
    for (i, v) in y_plane.iter_mut().enumerate() {
        let (x, y) = ((i % w) as f64, (i / w) as f64);
        *v = texture(x - offset_x, y - offset_y)
            .round()
            .clamp(16.0, 235.0) as u8;
    }
    frame
}

/// An eased pan of 40 px right and 12 px down over 90 frames.
fn path(k: usize) -> (f64, f64) {
    let p = k as f64 / 89.0;
    let e = 0.5 - 0.5 * (std::f64::consts::PI * p).cos();
    (40.0 * e, 12.0 * e)
}

#[test]
fn a_smooth_sub_pixel_pan_has_no_jitter_and_a_snapped_one_has_plenty() {
    let smooth: Vec<Yuv420Frame> = (0..90)
        .map(|k| {
            let (x, y) = path(k);
            frame_at(x, y)
        })
        .collect();
    let snapped: Vec<Yuv420Frame> = (0..90)
        .map(|k| {
            let (x, y) = path(k);
            frame_at(x.round(), y.round())
        })
        .collect();
    let smooth = measure_jitter(&smooth);
    let snapped = measure_jitter(&snapped);
    eprintln!("smooth {smooth:?}\nsnapped {snapped:?}");
    assert!(smooth.samples > 300 && snapped.samples > 300);
    // The mean speed is about right (41.8 px of path in 89 steps; the window biases it a little low).
    assert!((smooth.mean_speed_px - 0.47).abs() < 0.08, "{smooth:?}");
    assert!(smooth.rms_px < 0.05, "{smooth:?}");
    assert!(snapped.rms_px > 0.2, "{snapped:?}");
    assert!(snapped.rms_px > 5.0 * smooth.rms_px);
    assert!(snapped.max_px > 0.5, "{snapped:?}");
}

#[test]
fn a_still_sequence_has_no_motion_and_no_jitter() {
    let frames = vec![frame_at(0.0, 0.0); 20];
    let report = measure_jitter(&frames);
    assert!(report.samples > 0);
    assert!(
        report.rms_px < 1e-3 && report.mean_speed_px < 1e-3,
        "{report:?}"
    );
    assert_eq!(
        measure_jitter(&frames[..2]).samples,
        0,
        "too short to judge"
    );
}
