//! The storyboard (issue 25): a job's scenes made editable before anything is rendered or
//! charged. Each scene has its text (what the narrator says and the captions show), its visual,
//! its camera motion and its transition to the next scene. It is made from the engine's own
//! scene plan of the script, edited by its owner, then stored with the job's plan
//! ([`crate::StoredPlan`], version 2) so the worker renders exactly it: scene *i* of the
//! storyboard is scene *i* of the video.

use reelsmith_core::{Code, ErrorCode, Motion, RenderSpec, Transition};
use reelsmith_media::compose::{resolve_motion, CameraMotion};
use reelsmith_media::plan::GivenScene;
use serde::{Deserialize, Serialize};

use crate::plan::{JobPlan, SceneShots};

/// Most scenes a storyboard holds.
pub const MAX_SCENES: usize = 100;
/// Longest scene text, in characters.
pub const MAX_SCENE_CHARS: usize = 1_000;
/// Longest scene prompt, in characters.
pub const MAX_PROMPT_CHARS: usize = 2_000;

/// What a scene shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Visual {
    /// One of the owner's own image or video uploads, by id.
    Upload { id: String },
    /// The scene's words large on a background drawn by the compositor.
    Card,
    /// A picture or clip the job's provider model generates from this prompt (priced per scene).
    Prompt { prompt: String },
    /// A picture or clip a search for this scene offered (the media library, Pexels or
    /// Pixabay), named by the id the server gave it (`pick`). The server fills `offer` from what
    /// it offered this job's owner, whatever a client sends, so no client can make the worker
    /// fetch a URL of its choosing or use another user's pick.
    Stock {
        pick: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offer: Option<Box<reelsmith_stock::Candidate>>,
    },
}

/// One scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    pub text: String,
    /// Required: a scene without one is refused with `storyboard.no_visual`.
    pub visual: Option<Visual>,
    /// `auto` is resolved when the storyboard is saved, so what is shown is what renders.
    #[serde(default)]
    pub motion: Motion,
    /// How this scene gives way to the next one.
    #[serde(default)]
    pub transition: Transition,
}

/// A job's scenes, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storyboard {
    pub scenes: Vec<Scene>,
}

/// A storyboard that cannot be rendered as it stands; nothing was saved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoryboardError {
    #[error("a storyboard needs at least one scene")]
    Empty,
    #[error("a storyboard has at most {MAX_SCENES} scenes; this one has {0}")]
    TooManyScenes(usize),
    #[error("scene {scene}: {reason}")]
    SceneText { scene: usize, reason: String },
    #[error("scene {0} has no visual: choose an upload, a title card or a prompt")]
    NoVisual(usize),
    #[error("scene {0} asks for a generated picture, but the job names no provider model")]
    PromptNeedsProvider(usize),
    #[error("scene {0}: a prompt has 1 to {MAX_PROMPT_CHARS} characters")]
    Prompt(usize),
    #[error("scene {0}: the picture it names is not one a search offered for this storyboard")]
    UnknownPick(usize),
}

impl ErrorCode for StoryboardError {
    fn code(&self) -> Code {
        match self {
            StoryboardError::Empty => Code::StoryboardEmpty,
            StoryboardError::TooManyScenes(_) => Code::StoryboardTooManyScenes,
            StoryboardError::SceneText { .. } => Code::StoryboardSceneText,
            StoryboardError::NoVisual(_) => Code::StoryboardNoVisual,
            StoryboardError::PromptNeedsProvider(_) => Code::StoryboardPromptNeedsProvider,
            StoryboardError::Prompt(_) => Code::StoryboardInvalid,
            StoryboardError::UnknownPick(_) => Code::StoryboardUnknownPick,
        }
    }

    fn is_client_error(&self) -> bool {
        true
    }
}

/// The concrete motion a scene shows, as the spec names it.
fn motion_name(c: CameraMotion) -> Motion {
    match c {
        CameraMotion::Static => Motion::Static,
        CameraMotion::ZoomIn => Motion::ZoomIn,
        CameraMotion::ZoomOut => Motion::ZoomOut,
        CameraMotion::PanLeft => Motion::PanLeft,
        CameraMotion::PanRight => Motion::PanRight,
        CameraMotion::PanUp => Motion::PanUp,
        CameraMotion::PanDown => Motion::PanDown,
    }
}

/// True when the spec names a provider model that generates the scenes' pictures.
fn has_provider(spec: &RenderSpec) -> bool {
    spec.provider
        .as_deref()
        .is_some_and(|p| p != reelsmith_providers::registry::DEFAULT_PROVIDER)
}

impl Storyboard {
    /// The storyboard the script would render as today: the engine's scenes, each showing the
    /// upload the engine would give it (or, with a provider model, a prompt from the spec's
    /// prompts or the scene's words), with `auto` motion resolved the way the engine would.
    pub fn from_spec(spec: &RenderSpec) -> Result<Storyboard, reelsmith_media::plan::PlanError> {
        let plan = reelsmith_media::plan::plan(&spec.script, spec.media.len())?;
        let provider = has_provider(spec);
        let scenes = plan
            .scenes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let visual = if provider {
                    Visual::Prompt {
                        prompt: if spec.prompts.is_empty() {
                            s.speech_text.clone()
                        } else {
                            spec.prompts[i % spec.prompts.len()].clone()
                        },
                    }
                } else {
                    match s.media {
                        Some(m) => Visual::Upload {
                            id: spec.media[m].clone(),
                        },
                        None => Visual::Card,
                    }
                };
                Scene {
                    text: s.speech_text.clone(),
                    visual: Some(visual),
                    motion: motion_name(resolve_motion(spec.motion, i, spec.seed)),
                    transition: Transition::default(),
                }
            })
            .collect();
        Ok(Storyboard { scenes })
    }

    /// Checks everything that needs no database: the scene count, each scene's text, visual
    /// and prompt. Text is trimmed and `auto` motion resolved in place. The owner's uploads
    /// are the caller's to check ([`Storyboard::upload_ids`]).
    pub fn check(&mut self, spec: &RenderSpec) -> Result<(), StoryboardError> {
        if self.scenes.is_empty() {
            return Err(StoryboardError::Empty);
        }
        if self.scenes.len() > MAX_SCENES {
            return Err(StoryboardError::TooManyScenes(self.scenes.len()));
        }
        let provider = has_provider(spec);
        for (i, scene) in self.scenes.iter_mut().enumerate() {
            scene.text = reelsmith_media::text::strip_bidi_controls(scene.text.trim());
            let chars = scene.text.chars().count();
            if chars > MAX_SCENE_CHARS {
                return Err(StoryboardError::SceneText {
                    scene: i,
                    reason: format!(
                        "a scene's text has at most {MAX_SCENE_CHARS} characters; this one has {chars}"
                    ),
                });
            }
            if reelsmith_media::plan::scene_words(&scene.text).is_empty() {
                return Err(StoryboardError::SceneText {
                    scene: i,
                    reason: "the text has no words to speak".into(),
                });
            }
            match &mut scene.visual {
                None => return Err(StoryboardError::NoVisual(i)),
                Some(Visual::Stock { offer: None, .. }) => {
                    return Err(StoryboardError::UnknownPick(i))
                }
                Some(Visual::Prompt { prompt }) => {
                    if !provider {
                        return Err(StoryboardError::PromptNeedsProvider(i));
                    }
                    *prompt = reelsmith_media::text::strip_bidi_controls(prompt.trim());
                    let n = prompt.chars().count();
                    if n == 0 || n > MAX_PROMPT_CHARS {
                        return Err(StoryboardError::Prompt(i));
                    }
                }
                Some(Visual::Upload { .. } | Visual::Card | Visual::Stock { .. }) => {}
            }
            if scene.motion == Motion::Auto {
                scene.motion = motion_name(resolve_motion(Motion::Auto, i, spec.seed));
            }
        }
        Ok(())
    }

    /// The uploads the scenes show, each once, in the order they first appear: the job's
    /// `media` list when it renders this storyboard.
    pub fn upload_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for scene in &self.scenes {
            if let Some(Visual::Upload { id }) = &scene.visual {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
        }
        ids
    }

    /// The spec this storyboard renders: its script is the scenes' texts (a blank line apart,
    /// so titles, file names, screening and the caption font see the words that are spoken),
    /// its media the uploads the scenes show, its prompts those of the generated scenes (so
    /// they are screened, and no script writer replaces what the owner wrote).
    pub fn spec_for(&self, spec: &RenderSpec) -> RenderSpec {
        RenderSpec {
            script: self
                .scenes
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join("\n\n"),
            media: self.upload_ids(),
            prompts: self.prompts().map(|(_, _, p)| p.to_owned()).collect(),
            ..spec.clone()
        }
    }

    /// Each scene's narration length, estimated from its words at the voice's speaking rate.
    pub fn seconds(&self, spec: &RenderSpec) -> Vec<f64> {
        let words_per_second = f64::from(spec.tts.rate.max(1)) / 60.0;
        self.scenes
            .iter()
            .map(|s| {
                reelsmith_media::plan::scene_words(&s.text).len() as f64 / words_per_second
                    + crate::plan::SCENE_PAUSE_S
            })
            .collect()
    }

    /// The stock and library pictures the scenes show, in scene order (one per stock scene).
    pub fn stock_offers(&self) -> Vec<&reelsmith_stock::Candidate> {
        self.scenes
            .iter()
            .filter_map(|s| match &s.visual {
                Some(Visual::Stock {
                    offer: Some(offer), ..
                }) => Some(offer.as_ref()),
                _ => None,
            })
            .collect()
    }

    /// The credits the video owes: the attribution of every stock and library picture it
    /// shows, each once, in the order they appear.
    pub fn credits(&self) -> Vec<reelsmith_stock::Attribution> {
        let mut out: Vec<reelsmith_stock::Attribution> = Vec::new();
        for offer in self.stock_offers() {
            if !out.contains(&offer.attribution) {
                out.push(offer.attribution.clone());
            }
        }
        out
    }

    /// What the engine renders: scene *i* with its text, motion, and the index of its picture
    /// in the render's media list. That list is the spec's uploads (`uploads`, the job's
    /// `media`), then the stock pictures ([`Storyboard::stock_offers`], one per stock scene),
    /// then the provider's generated visuals, one per planned scene of `plan`.
    pub fn given_scenes(&self, uploads: &[String], plan: &JobPlan) -> Vec<GivenScene> {
        let stock = self.stock_offers().len();
        let mut stock_seen = 0;
        self.scenes
            .iter()
            .enumerate()
            .map(|(i, s)| GivenScene {
                text: s.text.clone(),
                media: match &s.visual {
                    Some(Visual::Upload { id }) => uploads.iter().position(|u| u == id),
                    Some(Visual::Stock { offer: Some(_), .. }) => {
                        stock_seen += 1;
                        Some(uploads.len() + stock_seen - 1)
                    }
                    Some(Visual::Prompt { .. }) => plan
                        .scenes
                        .iter()
                        .position(|p| p.scene == i)
                        .map(|k| uploads.len() + stock + k),
                    _ => None,
                },
                motion: s.motion,
                transition: s.transition,
            })
            .collect()
    }

    /// The prompt of each scene a provider generates, with its index.
    pub(crate) fn prompts(&self) -> impl Iterator<Item = (usize, &Scene, &str)> {
        self.scenes
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.visual {
                Some(Visual::Prompt { prompt }) => Some((i, s, prompt.as_str())),
                _ => None,
            })
    }
}

/// The shots of a storyboard's prompt scenes, for [`crate::plan::plan_storyboard_with`].
pub(crate) fn storyboard_shots(
    board: &Storyboard,
    spec: &RenderSpec,
    shot: &dyn Fn(&str, f64) -> Result<SceneShots, crate::JobPlanError>,
) -> Result<Vec<SceneShots>, crate::JobPlanError> {
    let seconds = board.seconds(spec);
    let mut out = Vec::new();
    for (i, scene, prompt) in board.prompts() {
        let mut s = shot(prompt, seconds[i])?;
        s.scene = i;
        s.narration = reelsmith_media::plan::scene_words(&scene.text).join(" ");
        out.push(s);
    }
    Ok(out)
}
