# Reelsmith's driver for the Piper runtime (PyPI piper-tts), run as a supervised child process.
# Protocol (one request at a time): Reelsmith writes one JSON line per sentence,
#   {"text": "...", "length_scale": 1.0}
# and reads back one JSON line, {"samples": N, "rate": R}, followed by exactly N little-endian
# 16-bit mono samples; or {"error": "..."}. The first line written is {"ready": true, "rate": R}
# once the model has loaded. Noise is off (noise_scale = noise_w = 0) so the same sentence gives
# the same audio on every run: a retried job reproduces its narration.
import json
import os
import shutil
import sys
import tempfile


def main() -> None:
    model, config = sys.argv[1], sys.argv[2]
    # onnxruntime leaves a `.ses` file in the temporary folder: give it a folder of its own,
    # removed when the driver ends, so a render leaves nothing behind.
    scratch = tempfile.mkdtemp(prefix="reelsmith-piper-")
    os.environ["TMPDIR"] = scratch
    tempfile.tempdir = scratch
    try:
        speak(model, config)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def speak(model: str, config: str) -> None:
    out = sys.stdout.buffer
    try:
        from piper import PiperVoice, SynthesisConfig

        voice = PiperVoice.load(model, config_path=config)
    except Exception as e:  # the caller turns this into a fallback, with the message
        out.write((json.dumps({"error": f"cannot load the voice: {e}"}) + "\n").encode())
        out.flush()
        return
    rate = voice.config.sample_rate
    out.write((json.dumps({"ready": True, "rate": rate}) + "\n").encode())
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            syn = SynthesisConfig(
                length_scale=float(req.get("length_scale", 1.0)),
                noise_scale=0.0,
                noise_w_scale=0.0,
                normalize_audio=True,
            )
            pcm = b"".join(c.audio_int16_bytes for c in voice.synthesize(req["text"], syn))
        except Exception as e:
            out.write((json.dumps({"error": str(e)}) + "\n").encode())
            out.flush()
            continue
        out.write((json.dumps({"samples": len(pcm) // 2, "rate": rate}) + "\n").encode())
        out.write(pcm)
        out.flush()


main()
