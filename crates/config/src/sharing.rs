//! `[sharing]`: the public gallery, share links, reports and the automated checks (issue 19;
//! P-VIS-2, P-VIS-3, P-SAFE-1..3).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::sections::RateLimit;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SharingConfig {
    /// Whether people may publish works to the public gallery ("Discover"). Off: publishing is
    /// refused and the gallery is empty; share links still work.
    pub gallery: bool,
    /// Whether people may create unlisted share links.
    pub share_links: bool,
    /// The longest a share link may live, in days; a link asked for without an expiry gets it
    /// too. 0: links may live until revoked.
    pub share_link_max_days: u32,
    /// Reports one client (account, or address when signed out) may send.
    pub reports: RateLimit,
    /// The operator's moderation rules (TOML, see `crates/safety/default_rules.toml`); unset:
    /// the shipped default list. Read again whenever the file changes.
    pub moderation_rules_file: Option<PathBuf>,
    /// The optional image classifier (P-SAFE-1): uploads and generated frames.
    pub image_check: ImageCheckConfig,
}

impl Default for SharingConfig {
    fn default() -> Self {
        SharingConfig {
            gallery: true,
            share_links: true,
            share_link_max_days: 0,
            reports: RateLimit {
                count: 10,
                window_seconds: 60 * 60,
            },
            moderation_rules_file: None,
            image_check: ImageCheckConfig::default(),
        }
    }
}

/// `[sharing.image_check]`: a local ONNX image classifier that screens image uploads, frames
/// of uploaded videos and frames of generated clips (P-SAFE-1). Off while `model` is unset.
///
/// The model takes one `f32` tensor `[1, 3, input_height, input_width]` (RGB, channels first)
/// of pixels scaled to 0..1, then `(x - mean) / std` per channel, and gives one score per
/// entry of `labels`, in order (probabilities: end the graph in Softmax or Sigmoid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageCheckConfig {
    /// The `.onnx` file; read once at start. Unset: no image classifier.
    pub model: Option<PathBuf>,
    pub input_width: u32,
    pub input_height: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// The model's output classes, in order.
    pub labels: Vec<String>,
    /// A label's score at or above which the image is refused.
    pub refuse: BTreeMap<String, f32>,
    /// A label's score at or above which the job is held for review (when not refused).
    pub hold: BTreeMap<String, f32>,
}

impl Default for ImageCheckConfig {
    fn default() -> Self {
        ImageCheckConfig {
            model: None,
            input_width: 224,
            input_height: 224,
            mean: [0.0; 3],
            std: [1.0; 3],
            labels: Vec::new(),
            refuse: BTreeMap::new(),
            hold: BTreeMap::new(),
        }
    }
}

/// The largest input side a model may ask for: a bound on what one check costs.
pub const MAX_IMAGE_CHECK_SIDE: u32 = 2048;

impl SharingConfig {
    /// What is wrong with this section, as (key, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        self.image_check.problems()
    }
}

impl ImageCheckConfig {
    /// What is wrong with these settings, as (key, message). The model file itself is read by
    /// `reelsmith config check` and at start (crates/safety), not here.
    pub fn problems(&self) -> Vec<(String, String)> {
        let c = self;
        let mut out = Vec::new();
        if c.model.is_none() {
            return out;
        }
        let mut bad = |key: &str, message: String| {
            out.push((format!("sharing.image_check.{key}"), message));
        };
        for (key, side) in [
            ("input_width", c.input_width),
            ("input_height", c.input_height),
        ] {
            if side == 0 || side > MAX_IMAGE_CHECK_SIDE {
                bad(key, format!("must be 1 to {MAX_IMAGE_CHECK_SIDE}"));
            }
        }
        if c.std.iter().any(|s| !s.is_finite() || *s == 0.0)
            || c.mean.iter().any(|m| !m.is_finite())
        {
            bad(
                "std",
                "mean and std must be finite numbers, std not 0".into(),
            );
        }
        if c.labels.is_empty() {
            bad("labels", "name the model's output classes, in order".into());
        }
        if c.refuse.is_empty() && c.hold.is_empty() {
            bad(
                "refuse",
                "give at least one label a refuse or hold threshold".into(),
            );
        }
        for (table, thresholds) in [("refuse", &c.refuse), ("hold", &c.hold)] {
            for (label, score) in thresholds {
                if !c.labels.contains(label) {
                    bad(table, format!("`{label}` is not one of `labels`"));
                }
                if !(*score > 0.0 && *score <= 1.0) {
                    bad(
                        table,
                        format!("`{label}`: a threshold is above 0 and at most 1"),
                    );
                }
            }
        }
        out
    }
}
