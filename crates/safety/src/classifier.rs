//! The optional image classifier (P-SAFE-1): a local ONNX model, named by the operator in
//! `[sharing.image_check]`, scores an image per class; a class's score at or above its `refuse`
//! threshold refuses the image, at or above its `hold` threshold holds the job for review.
//!
//! The model is read from its path and nothing else: no download at build or run time. It is
//! loaded once per process ([`ImageClassifier::shared`]) and tried on a black image before it is
//! used, so a missing, unreadable or mismatched model is an error at start (`reelsmith config
//! check`, `serve`, `worker`) instead of a surprise at the first upload.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use reelsmith_config::ImageCheckConfig;
use reelsmith_core::Code;
use tract_onnx::prelude::*;

use crate::Verdict;

#[derive(Debug, thiserror::Error)]
pub enum ImageModelError {
    #[error("the image classifier's model {path} cannot be read: {error}")]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the image classifier's model {path} is not a usable ONNX model: {error}")]
    Invalid { path: PathBuf, error: String },
    #[error(
        "the image classifier's model {path} gives {got} score(s), but {expected} label(s) are configured"
    )]
    Labels {
        path: PathBuf,
        got: usize,
        expected: usize,
    },
    #[error("an image to classify has no pixels or too few bytes for its size")]
    BadImage,
    #[error("the image classifier failed: {0}")]
    Run(String),
}

impl ImageModelError {
    /// The stable code an operator's tools and the logs show.
    pub fn code(&self) -> Code {
        match self {
            ImageModelError::Unreadable { .. } => Code::ModerationImageModelUnreadable,
            ImageModelError::Invalid { .. } => Code::ModerationImageModelInvalid,
            ImageModelError::Labels { .. } => Code::ModerationImageModelLabels,
            ImageModelError::BadImage => Code::ModerationImageInvalid,
            ImageModelError::Run(_) => Code::ModerationImageCheckFailed,
        }
    }
}

/// One class's threshold, resolved to the model's output index.
#[derive(Debug)]
struct Threshold {
    index: usize,
    label: String,
    score: f32,
}

/// A loaded, optimised model with its operator's settings. Cheap to share (`Arc`).
pub struct ImageClassifier {
    plan: Arc<TypedRunnableModel>,
    width: u32,
    height: u32,
    mean: [f32; 3],
    std: [f32; 3],
    labels: Vec<String>,
    refuse: Vec<Threshold>,
    hold: Vec<Threshold>,
}

impl std::fmt::Debug for ImageClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageClassifier")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// The models loaded by this process, by the settings that loaded them.
type Loaded = Vec<(ImageCheckConfig, Arc<ImageClassifier>)>;
static LOADED: Mutex<Loaded> = Mutex::new(Vec::new());

fn thresholds(
    labels: &[String],
    table: &std::collections::BTreeMap<String, f32>,
) -> Vec<Threshold> {
    // Labels not in `labels` are refused by the configuration's own check; here they are skipped.
    table
        .iter()
        .filter_map(|(label, score)| {
            labels
                .iter()
                .position(|l| l == label)
                .map(|index| Threshold {
                    index,
                    label: label.clone(),
                    score: *score,
                })
        })
        .collect()
}

impl ImageClassifier {
    /// The classifier the settings name, loaded once per process: `None` when no model is set.
    /// The server and the workers of one process share it.
    pub fn shared(
        config: &ImageCheckConfig,
    ) -> Result<Option<Arc<ImageClassifier>>, ImageModelError> {
        if config.model.is_none() {
            return Ok(None);
        }
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = loaded.iter().find(|(k, _)| k == config) {
            return Ok(Some(Arc::clone(c)));
        }
        let classifier = Arc::new(ImageClassifier::open(config)?);
        loaded.push((config.clone(), Arc::clone(&classifier)));
        Ok(Some(classifier))
    }

    /// Loads and optimises the model and tries it once on a black image.
    pub fn open(config: &ImageCheckConfig) -> Result<ImageClassifier, ImageModelError> {
        let path = config
            .model
            .clone()
            .ok_or_else(|| ImageModelError::Invalid {
                path: PathBuf::new(),
                error: "no model is configured".into(),
            })?;
        let bytes = std::fs::read(&path).map_err(|error| ImageModelError::Unreadable {
            path: path.clone(),
            error,
        })?;
        let invalid = |e: TractError| ImageModelError::Invalid {
            path: path.clone(),
            error: format!("{e:#}"),
        };
        let (w, h) = (config.input_width as usize, config.input_height as usize);
        let plan = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, h, w]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(invalid)?;
        let classifier = ImageClassifier {
            plan,
            width: config.input_width,
            height: config.input_height,
            mean: config.mean,
            std: config.std,
            labels: config.labels.clone(),
            refuse: thresholds(&config.labels, &config.refuse),
            hold: thresholds(&config.labels, &config.hold),
        };
        let black = vec![0u8; w * h * 3];
        let got = classifier
            .scores(config.input_width, config.input_height, &black)
            .map_err(|e| ImageModelError::Invalid {
                path: path.clone(),
                error: e.to_string(),
            })?
            .len();
        if got != config.labels.len() {
            return Err(ImageModelError::Labels {
                path,
                got,
                expected: config.labels.len(),
            });
        }
        Ok(classifier)
    }

    /// The model's scores for an RGB image (`width * height * 3` bytes, rows top to bottom),
    /// resized to the model's input.
    pub fn scores(&self, width: u32, height: u32, rgb: &[u8]) -> Result<Vec<f32>, ImageModelError> {
        let needed = (width as usize) * (height as usize) * 3;
        if width == 0 || height == 0 || rgb.len() < needed {
            return Err(ImageModelError::BadImage);
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let source = image::RgbImage::from_raw(width, height, rgb[..needed].to_vec())
            .ok_or(ImageModelError::BadImage)?;
        let resized = if (width, height) == (self.width, self.height) {
            source
        } else {
            // Triangle (bilinear) averages what it shrinks: a nearest-pixel pick could miss
            // whatever a large image shows between the picked pixels.
            image::imageops::resize(
                &source,
                self.width,
                self.height,
                image::imageops::FilterType::Triangle,
            )
        };
        let mut data = vec![0f32; 3 * w * h];
        for (i, pixel) in resized.pixels().enumerate() {
            for c in 0..3 {
                data[c * w * h + i] = (f32::from(pixel[c]) / 255.0 - self.mean[c]) / self.std[c];
            }
        }
        let input = Tensor::from_shape(&[1, 3, h, w], &data)
            .map_err(|e| ImageModelError::Run(format!("{e:#}")))?;
        let out = self
            .plan
            .run(tvec!(input.into_tvalue()))
            .map_err(|e| ImageModelError::Run(format!("{e:#}")))?;
        let first = out
            .first()
            .ok_or_else(|| ImageModelError::Run("the model gave no output".into()))?;
        let view = first
            .to_plain_array_view::<f32>()
            .map_err(|e| ImageModelError::Run(format!("{e:#}")))?;
        Ok(view.iter().copied().collect())
    }

    /// Scores an image and applies the thresholds: refusing classes first, then holding ones.
    pub fn check(&self, width: u32, height: u32, rgb: &[u8]) -> Result<Verdict, ImageModelError> {
        let scores = self.scores(width, height, rgb)?;
        Ok(self.verdict(&scores))
    }

    fn verdict(&self, scores: &[f32]) -> Verdict {
        let over = |list: &[Threshold]| -> Vec<String> {
            list.iter()
                .filter(|t| scores.get(t.index).is_some_and(|s| *s >= t.score))
                .map(|t| t.label.clone())
                .collect()
        };
        let refuse = over(&self.refuse);
        if !refuse.is_empty() {
            return Verdict::Refuse { categories: refuse };
        }
        let hold = over(&self.hold);
        if !hold.is_empty() {
            return Verdict::Hold { categories: hold };
        }
        Verdict::Allow
    }

    /// The configured classes, in the model's order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }
}

/// Combines the verdicts of several images (a job's inputs, a clip's frames): any refusal
/// refuses, else any hold holds; categories without repeats, in order of appearance.
pub fn combine(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    let mut refuse: Vec<String> = Vec::new();
    let mut hold: Vec<String> = Vec::new();
    for v in verdicts {
        let (list, cats) = match v {
            Verdict::Allow => continue,
            Verdict::Refuse { categories } => (&mut refuse, categories),
            Verdict::Hold { categories } => (&mut hold, categories),
        };
        for c in cats {
            if !list.contains(&c) {
                list.push(c);
            }
        }
    }
    Verdict::of(refuse, hold)
}

/// The ONNX protobuf types, for tools and tests that write a model themselves.
pub use tract_onnx::pb as onnx_pb;
