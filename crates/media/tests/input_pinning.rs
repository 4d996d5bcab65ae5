//! P-IN-3: ffmpeg and ffprobe open only the media a caller names. A playlist or concat list that
//! points at another local file (renamed to `.mp4` or not), or a text file, is refused by every
//! way the engine opens an input, rather than read through the file it names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reelsmith_core::{ErrorCode, Limits};
use reelsmith_media::audio::decode_audio;
use reelsmith_media::compose::open_clip;
use reelsmith_media::probe::probe;
use reelsmith_media::process::{run_capture, FFMPEG};

/// A real clip with picture and sound, the "other local file" the hostile inputs point at.
fn secret_clip(dir: &Path) -> PathBuf {
    let path = dir.join("secret.mp4");
    let out = path.display().to_string();
    let args = [
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x64:rate=10",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "1",
        "-pix_fmt",
        "yuv420p",
        "-shortest",
        &out,
    ];
    run_capture(FFMPEG, args, Duration::from_secs(60), 1 << 20).unwrap();
    path
}

/// The hostile inputs: an HLS playlist as `.m3u8` and renamed `.mp4`, ffconcat lists as `.txt`
/// and renamed `.mp4`, all naming `secret`; and a plain text file, which ffmpeg would otherwise
/// render as a picture through its `tty` demuxer.
fn hostile_inputs(dir: &Path, secret: &Path) -> Vec<PathBuf> {
    let playlist = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:{}\n#EXT-X-ENDLIST\n",
        secret.display()
    );
    let concat = format!("ffconcat version 1.0\nfile '{}'\n", secret.display());
    let notes: String = (1..=20)
        .map(|i| format!("line {i} of my notes: nothing here is a picture\n"))
        .collect();
    let files = [
        ("playlist.m3u8", playlist.clone()),
        ("playlist.mp4", playlist),
        ("list.ffconcat", concat.clone()),
        ("list.mp4", concat),
        ("notes.txt", notes),
    ];
    files
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

#[test]
fn p_in_3_playlists_concat_lists_and_text_are_refused_by_every_opener() {
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_clip(dir.path());
    let limits = Limits::default();
    // The real clip opens every way, so the refusals below are about the inputs, not the setup.
    assert!(probe(&secret).is_ok());
    assert!(open_clip(&secret, &limits).is_ok());
    assert!(decode_audio(&secret, 16_000, &limits).is_ok());
    for input in hostile_inputs(dir.path(), &secret) {
        let name = input.display().to_string();
        let probed = probe(&input);
        assert_eq!(
            probed
                .as_ref()
                .map(|i| i.format_name.clone())
                .err()
                .map(|e| e.code().as_str()),
            Some("media.unreadable"),
            "upload probe read {name}: {probed:?}"
        );
        let clip = open_clip(&input, &limits);
        assert_eq!(
            clip.as_ref().err().map(|e| e.code().as_str()),
            Some("clip.unreadable"),
            "engine opened {name} as a clip"
        );
        let audio = decode_audio(&input, 16_000, &limits);
        assert_eq!(
            audio.as_ref().err().map(|e| e.code().as_str()),
            Some("audio.unreadable"),
            "engine decoded {name} as audio"
        );
    }
}

#[test]
fn p_in_3_a_pinned_concat_list_cannot_reach_a_playlist() {
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_clip(dir.path());
    let inputs = hostile_inputs(dir.path(), &secret);
    let playlist_as_mp4 = &inputs[1];
    // A concat list the engine itself writes (as the shot joiner does), whose first "clip" is in
    // fact a playlist naming a real one: the demuxer pin is inherited by every file in the list.
    let list = dir.path().join("join.txt");
    std::fs::write(
        &list,
        format!(
            "file '{}'\nfile '{}'\n",
            playlist_as_mp4.display(),
            secret.display()
        ),
    )
    .unwrap();
    let list_arg = list.display().to_string();
    let args = [
        "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", &list_arg, "-f", "null", "-",
    ];
    let err = run_capture(FFMPEG, args, Duration::from_secs(60), 1 << 20).unwrap_err();
    assert_eq!(err.code(), "engine.process_failed");
    assert!(err.to_string().contains("not on whitelist"), "{err}");
}
