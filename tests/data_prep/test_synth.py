"""Tests of the synthetic Arabic talking-face generator (data_prep.synth).

One tiny dataset (2 speakers x 1 video + every broken kind) is generated per
module; the tests probe it with ffprobe and mediapipe the way the pipeline
will, and check the key property: the rendered lips move with the audio.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_prep.workflow.drops import REASONS
from data_prep.workflow.manifest import read_manifest
from data_prep.synth.broken import BROKEN_KINDS
from data_prep.synth.generate import generate_dataset
from data_prep.synth.sentences import SENTENCES, bare_text, espeak_order

DIACRITICS = set(chr(c) for c in range(0x064B, 0x0653)) | {"\u0670"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate_dataset(out, seed=3, n_speakers=2, videos_per_speaker=1, sentences_per_video=2,
                     n_broken=len(BROKEN_KINDS), workers=2)
    return out


def _rows(dataset: Path) -> list[dict]:
    return [json.loads(line) for line in (dataset / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def _regular(dataset: Path) -> list[dict]:
    return [r for r in _rows(dataset) if "expect_drop" not in r]


def _path(row: dict) -> Path:
    assert row["url"].startswith("file:///"), row["url"]
    return Path(row["url"][len("file://"):])


def _probe(path: Path) -> tuple[int, dict]:
    proc = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
                           str(path)], capture_output=True, text=True)
    return proc.returncode, (json.loads(proc.stdout) if proc.returncode == 0 else {})


def _audio(path: Path, rate: int = 16000) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(rate),
                          "-f", "s16le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.int16).astype(np.float32) / 32768


def _frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def test_sentences_are_diacritised_in_espeak_order():
    assert len(SENTENCES) >= 60
    for text in SENTENCES:
        ordered = espeak_order(text)
        assert sum(c in DIACRITICS for c in ordered) >= 4, text
        for a, b in zip(ordered, ordered[1:]):
            assert not (b == "\u0651" and a in DIACRITICS), f"vowel before shadda in {ordered!r}"
        assert not DIACRITICS & set(bare_text(text)), text


def test_manifest_is_valid_jsonl_with_fields(dataset):
    rows = _rows(dataset)
    entries = read_manifest(dataset / "manifest.jsonl")  # the pipeline's own validation
    assert len(entries) == len(rows) == 2 + len(BROKEN_KINDS)
    for row in rows:
        assert {"id", "url", "speaker", "text", "lang"} <= set(row), row
        assert row["lang"] == "ar" and row["text"].strip()
        assert not DIACRITICS & set(row["text"]), f"manifest text must be bare: {row['text']!r}"
    drops = [r["expect_drop"] for r in rows if "expect_drop" in r]
    assert sorted(drops) == sorted(BROKEN_KINDS)
    assert set(drops) <= set(REASONS)
    for row in rows:
        assert _path(row).is_file() == (row.get("expect_drop") != "unreachable_url"), row["id"]


def test_videos_probe_with_intended_format(dataset):
    for row in _regular(dataset):
        truth = json.loads((dataset / "truth" / f"{row['id']}.json").read_text(encoding="utf-8"))
        rc, info = _probe(_path(row))
        assert rc == 0, row["id"]
        video = next(s for s in info["streams"] if s["codec_type"] == "video")
        audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
        assert (video["codec_name"], video["pix_fmt"], audio["codec_name"]) == ("h264", "yuv420p", "aac")
        fps = float(Fraction(video["avg_frame_rate"]))
        assert abs(fps - truth["fps"]) < 0.01 and abs(fps - 25) > 0.5
        assert int(audio["sample_rate"]) == truth["sample_rate"] in (44100, 48000)
        assert [video["width"], video["height"]] == truth["frame_size"]
        assert 3.0 <= float(info["format"]["duration"]) <= 8.5
        assert truth["text"] == row["text"] and bare_text(truth["text_diacritised"]) == row["text"]


def test_phoneme_truth_is_ordered_and_inside_the_audio(dataset):
    for row in _regular(dataset):
        truth = json.loads((dataset / "truth" / f"{row['id']}.json").read_text(encoding="utf-8"))
        starts = np.array([p["start"] for p in truth["phonemes"]])
        assert len(starts) > 10 and all(p["symbol"] for p in truth["phonemes"])
        assert np.all(np.diff(starts) >= 0), "phoneme starts must not go back in time"
        assert starts[0] >= 0 and starts[-1] < truth["duration"]
        audio = _audio(_path(row))
        assert starts[-1] < len(audio) / 16000
        words = [w["start"] for w in truth["words"]]
        assert np.all(np.diff(words) >= 0) and len(words) >= 2
        assert len(truth["mouth_openness"]) == truth["n_frames"] == len(_frames(_path(row)))


def test_broken_inputs_are_broken_as_intended(dataset):
    import mediapipe as mp

    by_reason = {r["expect_drop"]: _path(r) for r in _rows(dataset) if "expect_drop" in r}
    assert not by_reason["unreachable_url"].exists()
    assert _probe(by_reason["corrupt_file"])[0] != 0
    streams = _probe(by_reason["no_audio_stream"])[1]["streams"]
    assert [s["codec_type"] for s in streams] == ["video"]
    assert np.abs(_audio(by_reason["silence"])).max() < 1e-4
    assert np.abs(_audio(dataset / "videos" / f"{_regular(dataset)[0]['id']}.mp4")).max() > 0.1

    with mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5) as det, \
            mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
        def faces(frame):
            found = det.process(frame).detections
            return len(found) if found else 0

        for reason, expected in (("no_face", 0), ("several_faces", 2)):
            sample = _frames(by_reason[reason])[::20]
            assert [faces(f) for f in sample] == [expected] * len(sample), reason
        frame = _frames(by_reason["face_too_small"])[10]
        assert faces(frame) == 1
        points = np.array([(p.x, p.y) for p in mesh.process(frame).multi_face_landmarks[0].landmark])
        size = ((points.max(0) - points.min(0)) * frame.shape[1::-1]).max()
        assert 20 < size < 64, f"face box {size:.0f} px should be below the pipeline's 64 px minimum"


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def test_lip_motion_follows_rendered_openness_and_audio(dataset):
    """mediapipe's inner-lip gap on the decoded video tracks the rendered openness and the loudness."""
    import mediapipe as mp

    row = _regular(dataset)[0]
    truth = json.loads((dataset / "truth" / f"{row['id']}.json").read_text(encoding="utf-8"))
    frames = _frames(_path(row))
    gaps = []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1) as mesh:
        for frame in frames:
            lm = mesh.process(frame).multi_face_landmarks
            assert lm, "face mesh lost the face"
            p = np.array([(q.x, q.y) for q in lm[0].landmark]) * frame.shape[1::-1]  # (468, 2) pixels
            gaps.append(np.linalg.norm(p[13] - p[14]) / np.linalg.norm(p[33] - p[263]))  # scale-free
    gaps = np.array(gaps)
    r_render = _pearson(gaps, np.array(truth["mouth_openness"]))

    fps, rate = truth["fps"], 16000
    audio = _audio(_path(row), rate)
    win = int(0.04 * rate)
    power = np.convolve(audio ** 2, np.ones(win) / win, "same")
    idx = np.clip((np.arange(len(frames)) / fps * rate).astype(int), 0, len(audio) - 1)
    loud = np.sqrt(power[idx])
    lags = range(-3, 4)
    r_audio = {lag: _pearson(gaps[max(lag, 0): len(gaps) + min(lag, 0)], loud[max(-lag, 0): len(loud) + min(-lag, 0)])
               for lag in lags}
    best = max(r_audio, key=r_audio.get)
    print(f"lip gap vs rendered openness r={r_render:.3f}; vs audio loudness r={r_audio[best]:.3f} at lag {best}")
    assert r_render > 0.8
    assert r_audio[best] > 0.6 and abs(best) <= 1
    # shuffled in time the same lips say nothing about the audio
    shuffled = np.random.default_rng(0).permutation(gaps)
    assert _pearson(shuffled, loud) < 0.3


def test_generation_is_deterministic(tmp_path):
    """Same seed, same bytes, even though libespeak-ng carries state between utterances."""
    for name in ("a", "b"):
        generate_dataset(tmp_path / name, seed=11, n_speakers=1, videos_per_speaker=1, sentences_per_video=1,
                         n_broken=0, workers=1)
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    for rel in ("videos/spk00_v00.mp4", "truth/spk00_v00.json"):
        assert digest(tmp_path / "a" / rel) == digest(tmp_path / "b" / rel), rel


def test_cli_writes_dataset_under_relative_out_dir(tmp_path):
    script = Path(sys.executable).with_name("lipsync-make-data")
    proc = subprocess.run([str(script), "out_dir=rel/data", "n_speakers=1", "videos_per_speaker=1",
                           "sentences_per_video=1", "n_broken=0"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "rel" / "data"
    assert len((out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    assert (out / ".hydra" / "config.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rel"], "no stray Hydra outputs/ directory"
