//! What a job will ask its provider for, and what that costs. The plan is made once, when the job
//! is submitted: it quotes the job (and reserves the credits), is stored with the job as a
//! [`StoredPlan`], and the worker executes exactly that record, so the price a user is shown is
//! the price of the shots that are generated (P-BILL-4), even if the model registry changed in
//! between (a new release with new prices or capabilities while the job waited in the queue).
//!
//! Scenes come from the engine's own planner, so scene *i* of the plan is scene *i* of the
//! render. Scene lengths are estimated from the narration's words at the voice's speaking rate;
//! the composer then trims or slows each generated clip to the narration's real length, so an
//! estimate a little off costs a trim, never a gap.

use reelsmith_core::{Code, ErrorCode, RenderSpec};
use reelsmith_providers::plan::shots_for_scene;
use reelsmith_providers::registry::{Durations, ModelCaps};
use reelsmith_providers::speech::{credits_for, CloudVoiceId};
use reelsmith_providers::ShotKind;
use serde::{Deserialize, Serialize};

use crate::registry::ModelRegistry;
use crate::storyboard::Storyboard;

/// The shots of one scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneShots {
    pub scene: usize,
    pub kind: ShotKind,
    /// The visual prompt: the scene's own prompt (or its narration) with the job's style.
    pub prompt: String,
    /// What the scene's narration says (a script writer can turn it into a better prompt).
    pub narration: String,
    /// Index into the spec's `media` of the image sent for image-to-video.
    pub image: Option<usize>,
    /// Shot lengths in seconds, as the model allows them (0 for a still image).
    pub shots: Vec<u32>,
    /// The narration's estimated length.
    pub seconds: f64,
}

/// A job's provider, model, shots and price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPlan {
    pub provider: String,
    pub model: String,
    pub scenes: Vec<SceneShots>,
    /// The registry's price of every shot plus the cloud voice's narration, in credits.
    pub credits: u64,
    /// The cloud voice that reads the narration, when the job names one (issue 17).
    pub voice: Option<VoicePlan>,
    /// What the model accepted in a request when the job was quoted.
    pub limits: RequestLimits,
}

/// The parts of a model's capabilities a shot request is cut to, fixed with the plan so the
/// worker needs no registry lookup of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestLimits {
    /// Longest prompt accepted, in characters.
    pub max_prompt_chars: usize,
    /// Whether the model takes a negative prompt.
    pub negative_prompt: bool,
    /// The resolutions the model can be asked for; empty when the provider picks.
    pub resolutions: Vec<String>,
}

impl RequestLimits {
    fn of(caps: &ModelCaps) -> RequestLimits {
        RequestLimits {
            max_prompt_chars: caps.max_prompt_chars,
            negative_prompt: caps.negative_prompt,
            resolutions: caps.resolutions.iter().map(|r| (*r).to_owned()).collect(),
        }
    }
}

/// A narration synthesized by a cloud voice, priced by its characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoicePlan {
    /// `openai` or `elevenlabs`: the name consent and the transfer log use.
    pub provider: String,
    pub model: String,
    /// The provider's voice id.
    pub voice: String,
    /// What is sent to be spoken: the scenes' speech text, a blank line apart.
    pub text: String,
    pub chars: usize,
    pub credits: u64,
}

impl JobPlan {
    /// True for the built-in engine, which generates no shots and costs nothing.
    pub fn is_studio(&self) -> bool {
        self.provider == reelsmith_providers::registry::DEFAULT_PROVIDER
    }

    /// The quote in the ledger's unit: what is reserved at submission and spent on success.
    pub fn cost(&self) -> i64 {
        i64::try_from(self.credits).unwrap_or(i64::MAX)
    }

    /// How many shots the provider is asked for.
    pub fn shot_count(&self) -> usize {
        self.scenes.iter().map(|s| s.shots.len()).sum()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobPlanError {
    #[error("the registry has no model `{model}` for provider `{provider}`")]
    UnknownModel { provider: String, model: String },
    #[error("{model} makes video from an image only: add an image to the job")]
    NeedsImage { model: String },
    #[error("{model} cannot make {aspect} video (it makes {allowed})")]
    UnsupportedAspect {
        model: String,
        aspect: String,
        allowed: String,
    },
    #[error("{model} makes video at {allowed} only, not {resolution}")]
    UnsupportedResolution {
        model: String,
        resolution: String,
        allowed: String,
    },
    #[error("`{voice}` is not a voice this server knows")]
    UnknownVoice { voice: String },
    #[error(
        "{voice} takes no instructions on how to speak (only openai/gpt-4o-mini-tts voices do)"
    )]
    VoiceTakesNoInstructions { voice: String },
    #[error(transparent)]
    Script(#[from] reelsmith_media::plan::PlanError),
}

impl ErrorCode for JobPlanError {
    fn code(&self) -> Code {
        match self {
            JobPlanError::UnknownModel { .. } => Code::ProviderUnknownModel,
            JobPlanError::NeedsImage { .. } => Code::ProviderNeedsImage,
            JobPlanError::UnsupportedAspect { .. } => Code::ProviderUnsupportedAspect,
            JobPlanError::UnsupportedResolution { .. } => Code::ProviderUnsupportedResolution,
            JobPlanError::UnknownVoice { .. } => Code::VoiceUnknown,
            JobPlanError::VoiceTakesNoInstructions { .. } => Code::VoiceNoInstructions,
            JobPlanError::Script(e) => e.code(),
        }
    }

    fn is_client_error(&self) -> bool {
        true
    }
}

/// The newest version of the plan record stored with a job. A worker refuses a record of a
/// version it does not know (a newer release wrote it) instead of guessing at its fields.
/// Version 2 adds the storyboard; a plan without one is still written as version 1, so a
/// worker of the release before reads it.
pub const PLAN_VERSION: u32 = 2;
/// The version written for a plan with a storyboard: a worker that knows only version 1 would
/// render the script instead of the storyboard, so it must refuse the record.
const STORYBOARD_PLAN_VERSION: u32 = 2;

/// The plan as it is stored with a job (`jobs.plan_json`): made once at submission, executed as
/// is by the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPlan {
    pub version: u32,
    pub plan: JobPlan,
    /// The scenes its owner edited before rendering: what the worker renders, scene by scene.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storyboard: Option<Storyboard>,
}

/// A stored plan this release cannot read.
#[derive(Debug, thiserror::Error)]
pub enum StoredPlanError {
    #[error("the job's plan is version {found}; this release reads versions 1 to {PLAN_VERSION}")]
    Version { found: u64 },
    #[error("the job's plan is not a plan record: {0}")]
    Malformed(String),
}

impl StoredPlan {
    pub fn new(plan: JobPlan) -> StoredPlan {
        StoredPlan {
            version: 1,
            plan,
            storyboard: None,
        }
    }

    /// The record of a plan made from a storyboard, which is stored with it.
    pub fn with_storyboard(plan: JobPlan, storyboard: Storyboard) -> StoredPlan {
        StoredPlan {
            version: STORYBOARD_PLAN_VERSION,
            plan,
            storyboard: Some(storyboard),
        }
    }

    pub fn to_value(&self) -> serde_json::Value {
        // A struct of strings, numbers and vectors always serialises.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The plan of a stored record, checking its version first.
    pub fn from_value(value: &serde_json::Value) -> Result<JobPlan, StoredPlanError> {
        StoredPlan::read(value).map(|s| s.plan)
    }

    /// The whole record (plan and storyboard), checking its version first.
    pub fn read(value: &serde_json::Value) -> Result<StoredPlan, StoredPlanError> {
        let found = value.get("version").and_then(serde_json::Value::as_u64);
        if !found.is_some_and(|v| (1..=u64::from(PLAN_VERSION)).contains(&v)) {
            return Err(StoredPlanError::Version {
                found: found.unwrap_or(0),
            });
        }
        serde_json::from_value::<StoredPlan>(value.clone())
            .map_err(|e| StoredPlanError::Malformed(e.to_string()))
    }
}

/// A short pause the speech engine leaves after each scene, in seconds.
pub(crate) const SCENE_PAUSE_S: f64 = 0.3;

/// Plans the job's shots and prices them with the built-in model registry. A spec without a
/// provider gets the studio engine's empty, free plan without looking at the script (the engine
/// reports script problems itself).
pub fn plan_job(spec: &RenderSpec) -> Result<JobPlan, JobPlanError> {
    plan_job_with(spec, &ModelRegistry::default())
}

/// [`plan_job`] against `models`, the registry as this process sees it.
pub fn plan_job_with(spec: &RenderSpec, models: &ModelRegistry) -> Result<JobPlan, JobPlanError> {
    let caps = &caps_for(spec, models)?;
    let voice = voice_plan(spec)?;
    let voice_credits = voice.as_ref().map_or(0, |v| v.credits);
    if caps.provider == reelsmith_providers::registry::DEFAULT_PROVIDER {
        return Ok(JobPlan {
            provider: caps.provider.to_owned(),
            model: caps.model.to_string(),
            scenes: Vec::new(),
            credits: voice_credits,
            voice,
            limits: RequestLimits::of(caps),
        });
    }
    check_frame(caps, spec)?;
    let scene_plan = reelsmith_media::plan::plan(&spec.script, spec.media.len())?;
    let words_per_second = f64::from(spec.tts.rate.max(1)) / 60.0;
    let mut scenes = Vec::with_capacity(scene_plan.scenes.len());
    for (i, scene) in scene_plan.scenes.iter().enumerate() {
        let seconds = scene.words.len() as f64 / words_per_second + SCENE_PAUSE_S;
        let (kind, image) = shot_kind(caps, scene.media)?;
        let shots = match kind {
            ShotKind::TextToImage => vec![0],
            _ => shots_for_scene(&caps.durations, seconds),
        };
        scenes.push(SceneShots {
            scene: i,
            kind,
            prompt: prompt_for(spec, i, &scene.speech_text),
            narration: scene.speech_text.clone(),
            image,
            shots,
            seconds,
        });
    }
    let credits = scenes
        .iter()
        .flat_map(|s| s.shots.iter())
        .map(|&d| caps.credits(d))
        .sum::<u64>()
        + voice_credits;
    Ok(JobPlan {
        provider: caps.provider.to_owned(),
        model: caps.model.to_string(),
        scenes,
        credits,
        voice,
        limits: RequestLimits::of(caps),
    })
}

/// Plans a job whose scenes its owner decided: only the scenes that ask for a generated
/// picture (`Visual::Prompt`) are priced and generated; uploads and title cards cost nothing.
/// The storyboard must have passed [`Storyboard::check`].
pub fn plan_storyboard_with(
    spec: &RenderSpec,
    board: &Storyboard,
    models: &ModelRegistry,
) -> Result<JobPlan, JobPlanError> {
    let spec = &board.spec_for(spec);
    let caps = &caps_for(spec, models)?;
    let voice = voice_plan(spec)?;
    let voice_credits = voice.as_ref().map_or(0, |v| v.credits);
    if caps.provider != reelsmith_providers::registry::DEFAULT_PROVIDER {
        check_frame(caps, spec)?;
    }
    let scenes = crate::storyboard::storyboard_shots(board, spec, &|prompt, seconds| {
        let (kind, image) = shot_kind(caps, None)?;
        let shots = match kind {
            ShotKind::TextToImage => vec![0],
            _ => shots_for_scene(&caps.durations, seconds),
        };
        Ok(SceneShots {
            scene: 0,
            kind,
            prompt: with_style(spec, prompt.to_owned()),
            narration: String::new(),
            image,
            shots,
            seconds,
        })
    })?;
    let credits = scenes
        .iter()
        .flat_map(|s| s.shots.iter())
        .map(|&d| caps.credits(d))
        .sum::<u64>()
        + voice_credits;
    Ok(JobPlan {
        provider: caps.provider.to_owned(),
        model: caps.model.to_string(),
        scenes,
        credits,
        voice,
        limits: RequestLimits::of(caps),
    })
}

/// The cloud voice a job names in `tts.voice`, priced by the characters it will read. A user's
/// own recording (`voice`) is never replaced by synthesis, so it makes the voice plan empty.
fn voice_plan(spec: &RenderSpec) -> Result<Option<VoicePlan>, JobPlanError> {
    let name = &spec.tts.voice;
    if !CloudVoiceId::looks_cloud(name) {
        if spec.voice_instructions.is_some() {
            return Err(JobPlanError::VoiceTakesNoInstructions {
                voice: name.clone(),
            });
        }
        return Ok(None);
    }
    let unknown = || JobPlanError::UnknownVoice {
        voice: name.clone(),
    };
    let id = CloudVoiceId::parse(name).ok_or_else(unknown)?;
    let price = id.price_per_1000_chars().ok_or_else(unknown)?;
    let model = id.model_or_default().to_owned();
    if spec.voice_instructions.is_some() && model != "gpt-4o-mini-tts" {
        return Err(JobPlanError::VoiceTakesNoInstructions {
            voice: name.clone(),
        });
    }
    if spec.voice.is_some() {
        return Ok(None);
    }
    let scene_plan = reelsmith_media::plan::plan(&spec.script, spec.media.len())?;
    let text = scene_plan
        .scenes
        .iter()
        .map(|s| s.speech_text.trim())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let chars = text.chars().count();
    Ok(Some(VoicePlan {
        provider: id.provider.to_owned(),
        model,
        voice: id.voice,
        credits: credits_for(price, chars),
        text,
        chars,
    }))
}

/// The model's aspect ratios and resolutions, checked now: the provider would refuse the shot
/// only after the job was queued and its credits reserved.
fn check_frame(caps: &ModelCaps, spec: &RenderSpec) -> Result<(), JobPlanError> {
    let name = |v: serde_json::Value| v.as_str().map(str::to_owned).unwrap_or_default();
    let aspect = name(serde_json::json!(spec.aspect));
    if !caps.aspects.contains(&aspect.as_str()) {
        return Err(JobPlanError::UnsupportedAspect {
            model: caps.model.to_string(),
            aspect,
            allowed: caps.aspects.join(", "),
        });
    }
    let resolution = name(serde_json::json!(spec.resolution));
    if !caps.resolutions.is_empty() && !caps.resolutions.contains(&resolution.as_str()) {
        return Err(JobPlanError::UnsupportedResolution {
            model: caps.model.to_string(),
            resolution,
            allowed: caps.resolutions.join(", "),
        });
    }
    Ok(())
}

fn caps_for(spec: &RenderSpec, models: &ModelRegistry) -> Result<ModelCaps, JobPlanError> {
    models
        .lookup(spec.provider.as_deref(), spec.model.as_deref())
        .ok_or_else(|| JobPlanError::UnknownModel {
            provider: spec.provider.clone().unwrap_or_default(),
            model: spec.model.clone().unwrap_or_default(),
        })
}

/// Image-to-video when the model takes images and the scene has one; text-to-video otherwise;
/// stills for image models. Uploads are sent only to a model that uses them (P-TP-3).
fn shot_kind(
    caps: &ModelCaps,
    media: Option<usize>,
) -> Result<(ShotKind, Option<usize>), JobPlanError> {
    let does = |k| caps.kinds.contains(&k);
    if let (true, Some(i)) = (does(ShotKind::ImageToVideo), media) {
        return Ok((ShotKind::ImageToVideo, Some(i)));
    }
    if does(ShotKind::TextToVideo) {
        return Ok((ShotKind::TextToVideo, None));
    }
    if does(ShotKind::TextToImage) || caps.durations == Durations::Still {
        return Ok((ShotKind::TextToImage, None));
    }
    Err(JobPlanError::NeedsImage {
        model: caps.model.to_string(),
    })
}

fn prompt_for(spec: &RenderSpec, scene: usize, narration: &str) -> String {
    let own = if spec.prompts.is_empty() {
        narration.to_owned()
    } else {
        spec.prompts[scene % spec.prompts.len()].clone()
    };
    with_style(spec, own)
}

/// A scene prompt with the job's style prompt, if any, appended.
pub fn with_style(spec: &RenderSpec, own: String) -> String {
    match spec.prompt.as_deref().map(str::trim) {
        Some(style) if !style.is_empty() => {
            let own = own.trim_end();
            let sep = if own.ends_with(['.', '!', '?']) {
                " "
            } else {
                ". "
            };
            format!("{own}{sep}Style: {style}")
        }
        _ => own,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(provider: &str, model: &str, script: &str) -> RenderSpec {
        let mut s = RenderSpec::new(script);
        s.provider = Some(provider.into());
        s.model = Some(model.into());
        s
    }

    #[test]
    fn a_cloud_voice_is_priced_by_the_characters_it_reads() {
        let mut s = RenderSpec::new("A red fox runs through the fresh snow at dawn.");
        s.tts.voice = "elevenlabs/21m00Tcm4TlvDq8ikWAM".into();
        let plan = plan_job(&s).unwrap();
        let v = plan.voice.clone().unwrap();
        assert_eq!(
            (v.provider.as_str(), v.model.as_str()),
            ("elevenlabs", "eleven_multilingual_v2")
        );
        assert_eq!(v.chars, s.script.chars().count());
        assert_eq!(
            v.credits, 1,
            "47 characters at 10 credits per 1000, rounded up"
        );
        assert_eq!(plan.credits, v.credits, "the studio engine adds nothing");
        s.tts.voice = "openai/tts-1/alloy".into();
        s.voice_instructions = Some("calmly".into());
        assert_eq!(plan_job(&s).unwrap_err().code(), "voice.no_instructions");
        s.tts.voice = "openai/gpt-4o-mini-tts/alloy".into();
        assert!(plan_job(&s).unwrap().voice.is_some());
        s.tts.voice = "openai/whisper-1/alloy".into();
        assert_eq!(plan_job(&s).unwrap_err().code(), "voice.unknown");
        s.tts.voice = "en-us".into();
        s.voice_instructions = None;
        assert_eq!(plan_job(&s).unwrap().voice, None, "a local voice is free");
        s.tts.voice = "openai/tts-1/alloy".into();
        s.voice = Some("upload-1".into());
        assert_eq!(
            plan_job(&s).unwrap().voice,
            None,
            "a recording overrides synthesis"
        );
    }

    #[test]
    fn a_stored_plan_reads_back_as_the_same_plan_and_refuses_an_unknown_version() {
        let mut s = spec(
            "fal",
            "fal-ai/kling-video/v2.1/master/text-to-video",
            "One scene only.",
        );
        s.tts.voice = "elevenlabs/21m00Tcm4TlvDq8ikWAM".into();
        let plan = plan_job(&s).unwrap();
        let stored = StoredPlan::new(plan.clone()).to_value();
        assert_eq!(stored["version"], 1, "readable by the release before");
        assert_eq!(StoredPlan::from_value(&stored).unwrap(), plan);
        let mut later = stored.clone();
        later["version"] = serde_json::json!(PLAN_VERSION + 1);
        assert!(StoredPlan::from_value(&later).is_err());
    }

    #[test]
    fn the_studio_engine_is_free_and_plans_nothing() {
        let plan = plan_job(&RenderSpec::new("Hello there, this is a test.")).unwrap();
        assert!(plan.is_studio());
        assert_eq!(plan.credits, 0);
        assert!(plan.scenes.is_empty());
    }

    #[test]
    fn the_quote_is_the_registry_price_of_every_planned_shot() {
        let model = "fal-ai/kling-video/v2.1/master/text-to-video";
        let s = spec(
            "fal",
            model,
            "A short first scene here.\n\nThe second paragraph is a much longer one, with many \
             words that take the narrator well over five seconds to say out loud.",
        );
        let plan = plan_job(&s).unwrap();
        let caps = reelsmith_providers::registry::lookup(Some("fal"), Some(model)).unwrap();
        assert_eq!(plan.scenes.len(), 2);
        let expected: u64 = plan
            .scenes
            .iter()
            .flat_map(|sc| sc.shots.iter())
            .map(|&d| caps.credits(d))
            .sum();
        assert_eq!(plan.credits, expected);
        assert_eq!(plan.scenes[0].shots, vec![5]);
        assert_eq!(plan.scenes[1].shots, vec![10]);
        assert_eq!(plan.credits, 5 * 5 + 5 * 10);
        assert!(plan
            .scenes
            .iter()
            .all(|sc| sc.kind == ShotKind::TextToVideo));
    }

    #[test]
    fn p_tp_3_images_go_only_to_models_that_take_them() {
        let mut s = spec(
            "fal",
            "fal-ai/kling-video/v2.1/master/text-to-video",
            "One scene only.",
        );
        s.media = vec!["upload-1".into()];
        assert_eq!(
            plan_job(&s).unwrap().scenes[0].image,
            None,
            "text-to-video gets no image"
        );
        let mut s = spec("replicate", "kwaivgi/kling-v2.1", "One scene only.");
        assert_eq!(
            plan_job(&s).unwrap_err().code(),
            "provider.needs_image",
            "image-to-video without an image"
        );
        s.media = vec!["upload-1".into()];
        let plan = plan_job(&s).unwrap();
        assert_eq!(plan.scenes[0].kind, ShotKind::ImageToVideo);
        assert_eq!(plan.scenes[0].image, Some(0));
    }

    #[test]
    fn prompts_come_from_the_spec_or_the_narration_with_the_style() {
        let mut s = spec(
            "veo",
            "veo-3.1-generate-preview",
            "A cat sat on the mat today.",
        );
        s.prompt = Some("watercolour".into());
        assert_eq!(
            plan_job(&s).unwrap().scenes[0].prompt,
            "A cat sat on the mat today. Style: watercolour"
        );
        s.prompts = vec!["an orange cat, close up".into()];
        assert_eq!(
            plan_job(&s).unwrap().scenes[0].prompt,
            "an orange cat, close up. Style: watercolour"
        );
        let s = spec("veo", "nope", "x y z");
        assert_eq!(plan_job(&s).unwrap_err().code(), "provider.unknown_model");
    }
}
