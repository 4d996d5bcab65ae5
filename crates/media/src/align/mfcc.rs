//! Mel-frequency cepstral coefficients: the features both signals are compared on.
//!
//! MFCCs describe the short-time spectral envelope (what is being said) while discarding pitch
//! and most of the voice's character, which is what lets a synthetic reading be matched against
//! a human one. 25 ms Hann windows every 10 ms, 40 triangular mel filters up to 8 kHz (or the
//! Nyquist frequency), log energies, a DCT to 13 coefficients, then each coefficient normalised
//! to zero mean and unit variance over the signal, which removes the channel (microphone, codec)
//! and loudness differences between the two recordings.
//!
//! Filters are placed in Hz, so signals at different sample rates give comparable features.

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

use crate::audio::{hann, AudioBuffer};

/// Coefficients per frame.
pub const DIM: usize = 13;
const WINDOW_SECONDS: f64 = 0.025;
const HOP_SECONDS: f64 = 0.010;
const MEL_FILTERS: usize = 40;
const LOW_HZ: f64 = 20.0;
const HIGH_HZ: f64 = 8_000.0;
const PRE_EMPHASIS: f32 = 0.97;

/// One signal's features: `len()` frames of [`DIM`] coefficients, frame `i` starting at
/// `i * hop_seconds`.
#[derive(Debug, Clone)]
pub struct Features {
    pub values: Vec<f32>,
    pub hop_seconds: f64,
}

impl Features {
    pub fn len(&self) -> usize {
        self.values.len() / DIM
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn frame(&self, index: usize) -> &[f32] {
        &self.values[index * DIM..(index + 1) * DIM]
    }
}

/// The normalised MFCCs of `audio`.
pub fn mfcc(audio: &AudioBuffer) -> Features {
    let rate = audio.sample_rate as f64;
    let window_len = ((rate * WINDOW_SECONDS).round() as usize).max(2);
    let hop = ((rate * HOP_SECONDS).round() as usize).max(1);
    let hop_seconds = hop as f64 / rate;
    if audio.samples.len() < window_len {
        return Features {
            values: Vec::new(),
            hop_seconds,
        };
    }
    let size = window_len.next_power_of_two();
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(size);
    let window = hann(window_len);
    let filters = mel_filters(size, rate);
    let dct = dct_matrix();
    let emphasised = pre_emphasis(&audio.samples);
    let frames = 1 + (emphasised.len() - window_len) / hop;
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut energies = [0f32; MEL_FILTERS];
    let mut values = Vec::with_capacity(frames * DIM);
    for index in 0..frames {
        let start = index * hop;
        input.fill(0.0);
        for ((slot, &s), &w) in input
            .iter_mut()
            .zip(&emphasised[start..start + window_len])
            .zip(&window)
        {
            *slot = s * w;
        }
        if fft.process(&mut input, &mut spectrum).is_err() {
            spectrum.fill(Complex::new(0.0, 0.0));
        }
        for (energy, filter) in energies.iter_mut().zip(&filters) {
            *energy = filter.apply(&spectrum).max(1e-10).ln();
        }
        for row in dct.chunks_exact(MEL_FILTERS) {
            values.push(row.iter().zip(&energies).map(|(c, e)| c * e).sum());
        }
    }
    normalise(&mut values);
    Features {
        values,
        hop_seconds,
    }
}

fn pre_emphasis(samples: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(samples.len());
    let mut previous = 0.0;
    for &s in samples {
        out.push(s - PRE_EMPHASIS * previous);
        previous = s;
    }
    out
}

/// A triangular filter over a run of FFT bins.
struct MelFilter {
    first_bin: usize,
    weights: Vec<f32>,
}

impl MelFilter {
    fn apply(&self, spectrum: &[Complex<f32>]) -> f32 {
        spectrum[self.first_bin..]
            .iter()
            .zip(&self.weights)
            .map(|(c, w)| c.norm_sqr() * w)
            .sum()
    }
}

fn hz_to_mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

fn mel_to_hz(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

fn mel_filters(fft_size: usize, rate: f64) -> Vec<MelFilter> {
    let high = HIGH_HZ.min(rate / 2.0);
    let (low_mel, high_mel) = (hz_to_mel(LOW_HZ), hz_to_mel(high));
    let edges: Vec<f64> = (0..MEL_FILTERS + 2)
        .map(|i| mel_to_hz(low_mel + (high_mel - low_mel) * i as f64 / (MEL_FILTERS + 1) as f64))
        .collect();
    let bin_hz = rate / fft_size as f64;
    let last_bin = fft_size / 2;
    edges
        .windows(3)
        .map(|edge| {
            let (left, centre, right) = (edge[0], edge[1], edge[2]);
            let first_bin = ((left / bin_hz).ceil() as usize).min(last_bin);
            let end_bin = ((right / bin_hz).floor() as usize).min(last_bin);
            let weights = (first_bin..=end_bin.max(first_bin))
                .map(|bin| {
                    let hz = bin as f64 * bin_hz;
                    let w = if hz <= centre {
                        (hz - left) / (centre - left)
                    } else {
                        (right - hz) / (right - centre)
                    };
                    w.max(0.0) as f32
                })
                .collect();
            MelFilter { first_bin, weights }
        })
        .collect()
}

/// DCT-II rows for the first [`DIM`] coefficients, row-major.
fn dct_matrix() -> Vec<f32> {
    let m = MEL_FILTERS as f64;
    (0..DIM)
        .flat_map(|k| {
            (0..MEL_FILTERS)
                .map(move |n| (std::f64::consts::PI * k as f64 * (n as f64 + 0.5) / m).cos() as f32)
        })
        .collect()
}

/// Cepstral mean and variance normalisation, per coefficient.
fn normalise(values: &mut [f32]) {
    let frames = values.len() / DIM;
    if frames == 0 {
        return;
    }
    for k in 0..DIM {
        let column = || values.iter().skip(k).step_by(DIM);
        let mean = column().map(|&v| v as f64).sum::<f64>() / frames as f64;
        let variance = column().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / frames as f64;
        let scale = 1.0 / variance.sqrt().max(1e-6);
        for v in values.iter_mut().skip(k).step_by(DIM) {
            *v = ((*v as f64 - mean) * scale) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, rate: u32) -> AudioBuffer {
        AudioBuffer {
            samples: (0..rate as usize)
                .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin() * 0.3)
                .collect(),
            sample_rate: rate,
        }
    }

    #[test]
    fn frames_follow_the_hop_at_any_rate() {
        let a = mfcc(&tone(440.0, 16_000));
        let b = mfcc(&tone(440.0, 22_050));
        assert_eq!(a.len(), 1 + (16_000 - 400) / 160);
        assert!((a.hop_seconds - 0.010).abs() < 1e-9);
        assert!((b.hop_seconds - 0.010).abs() < 1e-4);
        assert!((a.len() as i64 - b.len() as i64).abs() <= 1);
    }

    #[test]
    fn coefficients_are_normalised() {
        let mut audio = tone(300.0, 16_000);
        audio.samples.extend(tone(2_000.0, 16_000).samples);
        let f = mfcc(&audio);
        for k in 0..DIM {
            let column: Vec<f32> = (0..f.len()).map(|i| f.frame(i)[k]).collect();
            let mean = column.iter().sum::<f32>() / column.len() as f32;
            assert!(mean.abs() < 1e-3, "coefficient {k} mean {mean}");
        }
        // The two halves differ in spectrum, so they must differ in features.
        let first = f.frame(10);
        let second = f.frame(f.len() - 10);
        let distance: f32 = first.iter().zip(second).map(|(a, b)| (a - b).powi(2)).sum();
        assert!(distance > 1.0, "{distance}");
    }

    #[test]
    fn filters_cover_the_band_in_order() {
        let filters = mel_filters(512, 16_000.0);
        assert_eq!(filters.len(), MEL_FILTERS);
        assert!(filters.windows(2).all(|w| w[0].first_bin <= w[1].first_bin));
        assert!(filters.iter().all(|f| f.weights.iter().any(|&w| w > 0.0)));
    }
}
