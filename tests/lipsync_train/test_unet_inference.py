"""Inference on tiny random models: guidance, chunking, looping, paste-back geometry, faceless frames, the mp4."""

from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import pytest
import torch

from lipsync_train.inference.pipeline import LipSyncPipeline, guided
from data_prep.face_align import align
from lipsync_train.inference.video import lipsync_video, paste_mouth, source_indices
from data_prep.mouth_mask import MouthRegion, mouth_mask
from tests.helpers.unet_helpers import tiny_parts

S = 32


@pytest.fixture(scope="module")
def pipeline() -> LipSyncPipeline:
    net, vae, enc, schedule = tiny_parts(seed=0)
    return LipSyncPipeline(net, vae, enc, schedule, image_size=S)


def faces(n: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, S, S), dtype=np.uint8))


def test_guidance_formula():
    u, c = torch.zeros(3), torch.ones(3)
    assert torch.equal(guided(u, c, 0.0), u) and torch.equal(guided(u, c, 1.0), c)
    assert torch.equal(guided(u, c, 2.5), torch.full((3,), 2.5))


def test_guidance_scale_changes_only_the_mouth(pipeline):
    f, tokens = faces(4), torch.randn(4, 30, 32)
    plain = pipeline.generate(f, f, tokens, num_steps=3, guidance_scale=1.0)
    strong = pipeline.generate(f, f, tokens, num_steps=3, guidance_scale=4.0)
    keep = torch.from_numpy(mouth_mask(S)) == 0  # (S, S)
    assert torch.equal(plain[:, :, keep], f[:, :, keep]) and torch.equal(strong[:, :, keep], f[:, :, keep])
    assert not torch.equal(plain, strong)
    # guidance with zero audio equals no guidance: both branches see the same (zero) tokens
    zero = torch.zeros_like(tokens)
    assert torch.equal(pipeline.generate(f, f, zero, 3, 1.0), pipeline.generate(f, f, zero, 3, 4.0))


def test_chunked_generation_equals_one_pass(pipeline):
    f, tokens = faces(7, seed=1), torch.randn(7, 30, 32)
    whole = pipeline.generate(f, f, tokens, num_steps=2, guidance_scale=1.5, chunk_frames=7)
    chunked = pipeline.generate(f, f, tokens, num_steps=2, guidance_scale=1.5, chunk_frames=3)
    assert (whole.int() - chunked.int()).abs().max() <= 1  # float reduction order only
    other_seed = pipeline.generate(f, f, tokens, num_steps=2, guidance_scale=1.5, chunk_frames=7, seed=5)
    assert not torch.equal(whole, other_seed)


def test_source_indices_pingpong_loop_hold():
    assert source_indices(4, 10).tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert source_indices(4, 6, "loop").tolist() == [0, 1, 2, 3, 0, 1]
    assert source_indices(3, 5, "hold").tolist() == [0, 1, 2, 2, 2]
    assert source_indices(1, 3).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="loop"):
        source_indices(3, 5, "bounce")


def similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a, b = scale * np.cos(np.radians(angle_deg)), scale * np.sin(np.radians(angle_deg))
    return np.array([[a, -b, tx], [b, a, ty]], np.float32)


def test_paste_back_puts_the_mouth_where_the_transform_says():
    size = 64
    frame = np.full((180, 240, 3), 90, np.uint8)
    affine = similarity(15, 0.6, -40, 10)  # source -> aligned
    crop = align(frame, affine, size)
    generated = crop.copy()
    generated[mouth_mask(size) > 0] = (255, 0, 0)  # the "generated mouth": red wherever the mask is
    out = paste_mouth(frame, generated, affine, feather=3)
    inverse = cv2.invertAffineTransform(affine.astype(np.float64))

    def source_pixel(u: float, v: float) -> tuple[int, int]:  # aligned unit coordinates -> source (row, col)
        x, y = inverse @ np.array([u * size, v * size, 1.0])
        return int(round(y)), int(round(x))

    r = MouthRegion()
    centre = source_pixel((r.left + r.right) / 2, (r.top + r.bottom) / 2 - 0.1)
    assert tuple(out[centre]) == (255, 0, 0)
    for u, v in ((0.29, 0.40), (0.71, 0.40), (0.5, 0.2)):  # eyes and forehead: untouched
        assert tuple(out[source_pixel(u, v)]) == (90, 90, 90)
    assert tuple(out[5, 5]) == (90, 90, 90)  # outside the crop entirely
    red = (out[..., 0] > 200) & (out[..., 1] < 50)
    ys, xs = np.nonzero(red)
    middle = source_pixel((r.left + r.right) / 2, (r.top + r.bottom) / 2)  # the blob centre maps to the region's
    assert abs(ys.mean() - middle[0]) < 2 and abs(xs.mean() - middle[1]) < 2


def test_lipsync_video_writes_mp4_and_passes_faceless_frames(pipeline, tmp_path):
    size_h, size_w = 72, 96
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (5, size_h, size_w, 3), dtype=np.uint8)
    affines = np.stack([similarity(0, 0.5, -8, -4)] * 5)
    affines[[1, 3]] = np.nan  # no face in source frames 1 and 3
    audio = (rng.standard_normal(640 * 12) * 3000).astype(np.int16)  # 12 output frames, ping-pong over 5
    result = lipsync_video(pipeline, frames, audio, tmp_path / "out.mp4", affines=affines, num_steps=2,
                           chunk_frames=4)
    ids = source_indices(5, 12)
    assert result.n_frames == 12 and result.frames_without_face == int(np.isin(ids, [1, 3]).sum())
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(result.out)],
                           capture_output=True, text=True, check=True)
    streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
    assert (streams["video"]["width"], streams["video"]["height"]) == (size_w, size_h)
    assert int(streams["video"]["nb_frames"]) == 12 and streams["audio"]["sample_rate"] == "16000"


def test_infer_inputs_are_checked_and_text_is_spoken():
    from omegaconf import OmegaConf

    from lipsync_train.infer import run_inference
    from data_prep.media import speak_arabic

    base = dict(video=None, image=None, audio=None, text=None, ckpt="x.ckpt", out="o.mp4")
    with pytest.raises(ValueError, match="video=FILE or image=FILE"):
        run_inference(OmegaConf.create({**base, "video": "a.mp4", "image": "b.png", "audio": "a.wav"}))
    with pytest.raises(ValueError, match="audio=FILE or text"):
        run_inference(OmegaConf.create({**base, "image": "b.png"}))
    audio = speak_arabic("مرحبا", diacritise=False)  # setup.sh installs espeak-ng: an error here is a failure
    assert audio.dtype == np.int16 and 0.2 < len(audio) / 16000 < 3 and np.abs(audio).max() > 1000


def test_infer_text_goes_through_the_tts_backend_by_language(monkeypatch):
    from pathlib import Path

    from omegaconf import OmegaConf

    from lipsync_train import infer

    made = []

    class FakeTTS:
        name, lang = "fake", "en"

        def speak(self, text):
            return np.full(1600, 7, np.int16) if text else None

    def fake_make_tts(backend, lang, model=None, voice=None, device="cpu"):
        made.append((backend, lang, model, voice))
        return FakeTTS()

    monkeypatch.setattr(infer, "make_tts", fake_make_tts)
    conf = OmegaConf.load(Path(infer.CONF_DIR) / "infer.yaml")
    assert (conf.lang, conf.tts, conf.voice) == ("ar", "auto", None)
    cfg = OmegaConf.merge(conf, {"text": "Hello there", "lang": "en", "tts": "espeak", "ckpt": "x", "out": "o"})
    audio = infer.speak_text(cfg)
    assert made == [("espeak", "en", None, None)] and audio.dtype == np.int16 and len(audio) == 1600


@pytest.mark.parametrize("lang, text", [("en", "Welcome to the course"), ("ar", "مرحبا بكم في الدرس")])
def test_infer_from_a_photo_and_text_makes_a_video_as_long_as_the_speech(tmp_path, lang, text):
    """``lipsync-infer image=... text=... lang=en|ar`` as a user runs it (espeak-ng speaks, offline)."""
    import subprocess
    import sys

    import cv2

    from data_prep.media import load_audio, read_frames
    from data_prep.synth.face_rig import face_photo
    from data_prep.tts import make_tts
    from tests.helpers.unet_helpers import write_unet_checkpoint

    face, ckpt, out = tmp_path / "face.png", write_unet_checkpoint(tmp_path / "unet.ckpt"), tmp_path / "out.mp4"
    cv2.imwrite(str(face), face_photo()[:, :, ::-1])
    # f'text="{text}"' is what the shell passes for 'text="..."' (Hydra needs the inner quotes for Arabic)
    run = subprocess.run([sys.executable, "-m", "lipsync_train.infer", f"image={face}", f'text="{text}"',
                          f"lang={lang}", "tts=espeak", f"ckpt={ckpt}", f"out={out}", "num_steps=2"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    speech = make_tts("espeak", lang=lang).speak(text)  # the same voice, spoken again for its length
    frames = read_frames(out)
    assert abs(len(frames) - len(speech) / 640) <= 1, (len(frames), len(speech))
    assert abs(len(load_audio(out)) - len(speech)) <= 0.05 * len(speech)
