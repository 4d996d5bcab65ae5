//! The storyboard's own rules (issue 25): made from the engine's plan of a script, checked with
//! stable codes, priced by its prompted scenes only, and stored in a plan record that a release
//! which does not know storyboards refuses.

use reelsmith_core::{ErrorCode, Motion, RenderSpec, Transition};
use reelsmith_jobs::{plan_storyboard_with, ModelRegistry, Scene, StoredPlan, Storyboard, Visual};

#[test]
fn a_script_becomes_the_engines_scenes_with_their_uploads_and_resolved_motion() {
    let mut spec = RenderSpec::new(
        "The first scene has enough words in it.\n\nThe second scene also has words.\n\nA third.",
    );
    spec.media = vec!["u1".into(), "u2".into()];
    let board = Storyboard::from_spec(&spec).unwrap();
    assert_eq!(board.scenes.len(), 3);
    assert_eq!(
        board.scenes[2].visual,
        Some(Visual::Upload { id: "u1".into() })
    );
    assert!(board.scenes.iter().all(|s| s.motion != Motion::Auto));
    assert_eq!(board.upload_ids(), vec!["u1", "u2"]);
    let given = board.given_scenes(
        &board.upload_ids(),
        &reelsmith_jobs::plan_job(&spec).unwrap(),
    );
    assert_eq!(
        given.iter().map(|g| g.media).collect::<Vec<_>>(),
        vec![Some(0), Some(1), Some(0)]
    );
}

#[test]
fn bad_scenes_are_refused_with_their_codes() {
    let spec = RenderSpec::new("One scene.");
    let scene = |text: &str, visual: Option<Visual>| Scene {
        text: text.into(),
        visual,
        motion: Motion::Auto,
        transition: Transition::Cut,
    };
    let code = |scenes: Vec<Scene>| {
        Storyboard { scenes }
            .check(&spec)
            .unwrap_err()
            .code()
            .as_str()
    };
    assert_eq!(code(vec![]), "storyboard.empty");
    assert_eq!(
        code(vec![scene("Words here.", None)]),
        "storyboard.no_visual"
    );
    assert_eq!(
        code(vec![scene("  !!  ", Some(Visual::Card))]),
        "storyboard.scene_text"
    );
    assert_eq!(
        code(vec![scene(&"word ".repeat(300), Some(Visual::Card))]),
        "storyboard.scene_text"
    );
    assert_eq!(
        code(vec![
            scene("Words.", Some(Visual::Card));
            reelsmith_jobs::storyboard::MAX_SCENES + 1
        ]),
        "storyboard.too_many_scenes"
    );
    assert_eq!(
        code(vec![scene(
            "Words.",
            Some(Visual::Prompt {
                prompt: "a fox".into()
            })
        )]),
        "storyboard.prompt_needs_provider"
    );
    let mut ok = Storyboard {
        scenes: vec![scene(" Fine words. ", Some(Visual::Card))],
    };
    ok.check(&spec).unwrap();
    assert_eq!(ok.scenes[0].text, "Fine words.");
    assert_ne!(ok.scenes[0].motion, Motion::Auto);
}

#[test]
fn only_prompted_scenes_are_priced_and_the_record_carries_the_storyboard() {
    let mut spec = RenderSpec::new("One scene of words here.\n\nAnother scene of words here.");
    spec.provider = Some("fal".into());
    spec.model = Some("fal-ai/kling-video/v2.1/master/text-to-video".into());
    let mut board = Storyboard::from_spec(&spec).unwrap();
    board.check(&spec).unwrap();
    let models = ModelRegistry::default();
    let both = plan_storyboard_with(&spec, &board, &models).unwrap();
    assert_eq!(both.credits, 50, "two 5 s shots at 5 credits a second");
    assert_eq!(
        both.scenes.iter().map(|s| s.scene).collect::<Vec<_>>(),
        [0, 1]
    );
    board.scenes[0].visual = Some(Visual::Upload { id: "u1".into() });
    let one = plan_storyboard_with(&spec, &board, &models).unwrap();
    assert_eq!((one.credits, one.scenes[0].scene), (25, 1));
    let given = board.given_scenes(&board.upload_ids(), &one);
    assert_eq!(
        given.iter().map(|g| g.media).collect::<Vec<_>>(),
        [Some(0), Some(1)],
        "the upload first, then the generated shot"
    );

    let record = StoredPlan::with_storyboard(one.clone(), board.clone()).to_value();
    assert_eq!(record["version"], 2);
    let read = StoredPlan::read(&record).unwrap();
    assert_eq!((read.plan, read.storyboard), (one.clone(), Some(board)));
    let plain = StoredPlan::new(one).to_value();
    assert_eq!(plain["version"], 1);
    assert!(StoredPlan::read(&plain).unwrap().storyboard.is_none());
}
