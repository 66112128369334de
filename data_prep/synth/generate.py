"""Generate the default dataset: Arabic talking-face mp4s, a manifest and their ground truth.

No video site is reachable from the build and test machines, so the demo and
every test run on videos made here: espeak-ng speaks diacritised Arabic
sentences, the scikit-image astronaut photo (several looks = several
speakers) moves her lips in time with it, and ffmpeg writes ordinary mp4s at
the frame and sample rates real downloads have (24 / 29.97 / 30 fps,
44.1 / 48 kHz). Bad inputs for the pipeline's drop tests come along
(:mod:`data_prep.synth.broken`).

    generate_dataset("data/synth", seed=0)   # or: lipsync-make-data out_dir=data/synth

Layout::

    DIR/videos/<id>.mp4
    DIR/manifest.jsonl   {"id", "url": "file:///abs/DIR/videos/<id>.mp4", "speaker", "text" (bare), "lang": "ar"}
                         (+ "expect_drop": reason for the broken ones)
    DIR/truth/<id>.json  diacritised text, voice, rate, pitch, fps, sample rate, phoneme and
                         word events (s from the video start), per-frame mouth pose as rendered

Everything is derived from ``seed``: the same seed gives the same bytes. Videos
are rendered in worker processes started by a multiprocessing fork server, so a
script that calls :func:`generate_dataset` needs the usual
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data_prep.head_motion import head_motion
from data_prep.synth.face_rig import LipRig, SpeakerLook, face_photo, locate_lips, render_speaker_base
from data_prep.synth.mouth import mouth_track
from data_prep.synth.render import MouthGeometry, talking_frames, write_mp4
from data_prep.synth.sentences import SENTENCES, sentence
from data_prep.synth.voice import SpokenText, speak_sentences

log = logging.getLogger(__name__)

VOICES = ("ar", "ar+m3", "ar+f2", "ar+f4", "ar+m1", "ar+f1", "ar+m7", "ar+f5")
FRAME_RATES = (24.0, 30000 / 1001, 30.0)
SAMPLE_RATES = (44_100, 48_000)


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: one look and one voice, fixed across their videos."""

    name: str
    look: SpeakerLook
    voice: str
    pitch: int
    pitch_range: int
    rate: int  # typical words per minute; each video varies around it


@dataclass(frozen=True)
class VideoSpec:
    """Everything needed to render one video, picklable for worker processes."""

    video_id: str
    speaker: Speaker
    sentences: tuple[int, ...]  # indices into SENTENCES
    rate: int
    fps: float
    sample_rate: int
    seed: int
    broken: str | None = None  # a drop reason for the pipeline's bad-input tests
    realistic: str | None = None  # a kind of data_prep.synth.realistic (portrait HEVC web-like source)


def make_speakers(seed: int, n_speakers: int) -> list[Speaker]:
    rng = np.random.default_rng([seed, 1])
    return [Speaker(name=f"spk{i:02d}", look=SpeakerLook.random(f"spk{i:02d}", rng), voice=VOICES[i % len(VOICES)],
                    pitch=int(rng.integers(30, 75)), pitch_range=int(rng.integers(35, 80)),
                    rate=int(rng.integers(135, 185)))
            for i in range(n_speakers)]


def plan_videos(seed: int, speakers: list[Speaker], videos_per_speaker: int,
                sentences_per_video: int) -> list[VideoSpec]:
    """Sentences, speaking rate, fps and sample rate for every regular video (deterministic)."""
    rng = np.random.default_rng([seed, 2])
    order = rng.permutation(len(SENTENCES))
    specs, used = [], 0
    for speaker in speakers:
        for j in range(videos_per_speaker):
            picks = tuple(int(order[(used + k) % len(order)]) for k in range(sentences_per_video))
            used += sentences_per_video
            specs.append(VideoSpec(
                video_id=f"{speaker.name}_v{j:02d}", speaker=speaker, sentences=picks,
                rate=int(np.clip(speaker.rate + rng.integers(-20, 21), 110, 210)),
                fps=float(FRAME_RATES[int(rng.integers(len(FRAME_RATES)))]),
                sample_rate=int(SAMPLE_RATES[int(rng.integers(len(SAMPLE_RATES)))]),
                seed=int(rng.integers(2**31))))
    return specs


def speak(spec: VideoSpec, rng: np.random.Generator) -> SpokenText:
    texts = [sentence(i)[0] for i in spec.sentences]
    s = spec.speaker
    return speak_sentences(texts, s.voice, spec.rate, s.pitch, s.pitch_range, spec.sample_rate, rng)


def truth_record(spec: VideoSpec, spoken: SpokenText, track, n_frames: int, mouth_xy: np.ndarray | None) -> dict:
    """The ground-truth JSON of one video (times in seconds from the video start)."""
    r4 = lambda xs: [round(float(x), 4) for x in xs]  # noqa: E731
    rec = {
        "id": spec.video_id, "speaker": spec.speaker.name,
        "text_diacritised": " ".join(s["text"] for s in spoken.sentences),
        "text": " ".join(s["bare"] for s in spoken.sentences),
        "sentences": spoken.sentences,
        "voice": spec.speaker.voice, "rate": spec.rate, "pitch": spec.speaker.pitch,
        "pitch_range": spec.speaker.pitch_range,
        "fps": spec.fps, "n_frames": n_frames, "sample_rate": spec.sample_rate,
        "duration": round(spoken.duration, 4), "frame_size": list(spec.speaker.look.frame_size),
        "look": asdict(spec.speaker.look),
        "phonemes": [{"start": t, "symbol": sym} for t, sym in spoken.phonemes],
        "words": spoken.words,
        "mouth_openness": r4(track.openness), "mouth_width": r4(track.width),
        "mouth_rounding": r4(track.rounding), "loudness": r4(track.loudness),
    }
    if mouth_xy is not None:
        rec["mouth_center"] = [[round(float(x), 1), round(float(y), 1)] for x, y in mouth_xy]
    if spec.broken:
        rec["expect_drop"] = spec.broken
    return rec


def render_talking_video(spec: VideoSpec, rig: LipRig, path: Path, audio: bool = True,
                         silent: bool = False) -> dict:
    """Speak, animate and encode one regular video; return its truth record.

    ``audio=False`` writes no audio stream; ``silent=True`` writes digital silence
    (the lips still move: the picture is a talking face, the sound track is empty).
    """
    rng = np.random.default_rng([spec.seed, 3])
    spoken = speak(spec, rng)
    n_frames = int(round(spoken.duration * spec.fps))
    track = mouth_track(spoken.phonemes, spoken.spans, spoken.audio, spoken.sample_rate, n_frames, spec.fps)
    base, frame_rig = render_speaker_base(face_photo(), rig, spec.speaker.look, rng)
    geo = MouthGeometry.from_rig(frame_rig, spec.speaker.look.frame_size)
    face_h = float(np.linalg.norm(frame_rig.chin - frame_rig.eyes.mean(axis=0)))
    motion = head_motion(n_frames, spec.fps, rng, centre=frame_rig.nose, drift_px=0.08 * face_h)
    mouth_xy = motion[:, :, :2] @ geo.origin + motion[:, :, 2]  # (T, 2) mouth centre after head motion
    sound = None if not audio else (np.zeros_like(spoken.audio) if silent else spoken.audio)
    write_mp4(path, talking_frames(base, geo, track, motion), spec.speaker.look.frame_size, spec.fps,
              sound, spec.sample_rate)
    return truth_record(spec, spoken, track, n_frames, mouth_xy)


def manifest_row(spec: VideoSpec, path: Path, bare_text: str) -> dict:
    row = {"id": spec.video_id, "url": Path(path).resolve().as_uri(), "speaker": spec.speaker.name,
           "text": bare_text, "lang": "ar"}
    if spec.broken:
        row["expect_drop"] = spec.broken
    return row


def _render_job(job: tuple[VideoSpec, LipRig, str]) -> dict:
    """Worker: render one video (regular or broken) and write its truth; return its manifest row."""
    from data_prep.synth.broken import render_broken  # broken.py and realistic.py build on this module
    from data_prep.synth.realistic import render_realistic

    spec, rig, out_dir = job
    out = Path(out_dir)
    path = out / "videos" / f"{spec.video_id}.mp4"
    if spec.broken:
        truth = render_broken(spec, rig, path)
    elif spec.realistic:
        truth = render_realistic(spec, rig, path)
    else:
        truth = render_talking_video(spec, rig, path)
    if truth is not None:
        (out / "truth" / f"{spec.video_id}.json").write_text(json.dumps(truth, ensure_ascii=False), encoding="utf-8")
    text = truth["text"] if truth else " ".join(sentence(i)[1] for i in spec.sentences)
    return manifest_row(spec, path, text)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would only contend


def generate_dataset(out_dir: str | Path, seed: int = 0, n_speakers: int = 8, videos_per_speaker: int = 6,
                     sentences_per_video: int = 2, n_broken: int = 7, workers: int = 1,
                     realistic: bool = False) -> Path:
    """Write videos, truth and manifest under ``out_dir``; return the manifest path.

    ``n_broken`` bad inputs cycle through :data:`data_prep.synth.broken.BROKEN_KINDS`
    (the default 7 makes each kind once). ``realistic=True`` adds one portrait
    HEVC source per :data:`data_prep.synth.realistic.REALISTIC_KINDS` (off by default: they cost time).
    """
    from data_prep.synth.broken import plan_broken
    from data_prep.synth.realistic import plan_realistic

    if n_speakers < 1 or videos_per_speaker < 0 or sentences_per_video < 1 or n_broken < 0 or workers < 1:
        raise ValueError(f"generate_dataset: need n_speakers>=1, videos_per_speaker>=0, sentences_per_video>=1, "
                         f"n_broken>=0, workers>=1; got {n_speakers}, {videos_per_speaker}, "
                         f"{sentences_per_video}, {n_broken}, {workers}")
    out = Path(out_dir).resolve()
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    rig = locate_lips(face_photo())  # mediapipe runs once, here; workers only warp pixels
    speakers = make_speakers(seed, n_speakers)
    specs = plan_videos(seed, speakers, videos_per_speaker, sentences_per_video)
    specs += plan_broken(seed, speakers, n_broken)
    if realistic:
        specs += plan_realistic(seed, speakers)
    jobs = [(spec, rig, str(out)) for spec in specs]
    log.info("rendering %d videos (%d broken) into %s with %d worker(s)", len(specs), n_broken, out, workers)
    # Every video is rendered in a fresh process forked from a clean fork server:
    # libespeak-ng keeps internal state between utterances (measured: the same sentence
    # comes out a few samples longer, with different samples, on every repeat in one
    # process; srand does not reset it), so audio depends on what the process spoke
    # before. A fresh process per video makes the bytes depend on the seed alone,
    # whatever the number of workers. The fork server (not plain fork)
    # also keeps mediapipe's threads, started above, out of the children.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["data_prep.synth.generate", "data_prep.synth.broken", "data_prep.synth.realistic"])
    with ctx.Pool(workers, initializer=_init_worker, maxtasksperchild=1) as pool:
        rows = list(tqdm(pool.imap(_render_job, jobs), total=len(jobs), desc="videos", unit="video",
                         disable=None))
    manifest = out / "manifest.jsonl"
    with manifest.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    log.info("wrote %s (%d entries)", manifest, len(rows))
    return manifest
