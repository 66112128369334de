"""The realistic case: sources shaped like phone talking-head uploads, for the web-video filters.

Opt-in (``lipsync-make-data realistic=true``), so the default set and its CI
cost do not change. Each source is one short sentence as a portrait
1080x1920, 30 fps, HEVC (libx265) video whose face is about 280 px wide,
like the public clips measured for issue 17. Kinds (:data:`REALISTIC_KINDS`):

- ``portrait``: the plain case; the native-resolution and detail tests use it;
- ``two_faces``: a second, silent person stands beside the speaker in the
  middle third of the frames (the active-speaker rule must keep the speaker);
- ``audio_shift``: the audio is delayed by :data:`AUDIO_SHIFT_FRAMES` frames
  at 25 fps (the sync filter should find and undo it);
- ``blurred``: every frame is Gaussian-blurred (the ``blurry`` filter drops it).

The truth record carries ``realistic`` (the kind), ``audio_shift_frames`` and
``second_face_frames`` (the [start, stop) source frames with two people).
The photo is upscaled ~3x to reach this face size, so a static fine skin
texture is added to give the face detail at native pixels, which is what a
shrink-then-upscale pipeline destroys and the detail test measures.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from data_prep.head_motion import head_motion
from data_prep.synth.face_rig import LipRig, face_photo, render_speaker_base
from data_prep.synth.generate import Speaker, VideoSpec, speak, truth_record
from data_prep.synth.mouth import mouth_track
from data_prep.synth.render import MouthGeometry, talking_frames, write_mp4
from data_prep.synth.sentences import SENTENCES

REALISTIC_KINDS = ("portrait", "two_faces", "audio_shift", "blurred")
PORTRAIT_SIZE = (1080, 1920)  # (width, height)
PORTRAIT_FPS = 30.0
FACE_SCALE = 0.118  # eye-to-chin / frame height: a mesh face box ~280 px wide in 1920 px
AUDIO_SHIFT_FRAMES = 5  # at 25 fps: the audio is 0.2 s late
BLUR_SIGMA = 4.0  # pixels at 1080x1920


def plan_realistic(seed: int, speakers: list[Speaker], kinds: tuple[str, ...] = REALISTIC_KINDS) -> list[VideoSpec]:
    """One spec per kind (ids ``real_<kind>``), one sentence each so the HEVC files stay short."""
    rng = np.random.default_rng([seed, 5])
    specs = []
    for i, kind in enumerate(kinds):
        if kind not in REALISTIC_KINDS:
            raise ValueError(f"unknown realistic kind {kind!r}; expected one of {REALISTIC_KINDS}")
        speaker = speakers[i % len(speakers)]
        specs.append(VideoSpec(video_id=f"real_{kind}", speaker=speaker,
                               sentences=(int(rng.integers(len(SENTENCES))),), rate=speaker.rate,
                               fps=PORTRAIT_FPS, sample_rate=48_000, seed=int(rng.integers(2**31)), realistic=kind))
    return specs


def portrait_look(speaker: Speaker, offset=(-0.18, -0.12), mirror: bool | None = None):
    """The speaker's look moved into a portrait frame with a ~280 px face."""
    look = speaker.look
    return dataclasses.replace(look, frame_size=PORTRAIT_SIZE, face_scale=FACE_SCALE, offset=offset,
                               rotation_deg=float(np.clip(look.rotation_deg, -3, 3)),
                               mirror=look.mirror if mirror is None else mirror,
                               background="gradient" if look.background == "photo" else look.background)


def add_skin_texture(frame: np.ndarray, rng: np.random.Generator, strength: float = 7.0) -> np.ndarray:
    """Sharpen and add a fixed fine texture (pores, grain) so the frame has detail at native pixels."""
    blurred = cv2.GaussianBlur(frame, (0, 0), 2.0)
    sharp = cv2.addWeighted(frame, 1.8, blurred, -0.8, 0)
    noise = cv2.GaussianBlur(rng.normal(0, strength, frame.shape[:2]).astype(np.float32), (0, 0), 0.8)
    return np.clip(sharp.astype(np.float32) + noise[..., None] * 1.6, 0, 255).astype(np.uint8)


def _second_person(speaker: Speaker, rig: LipRig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A silent second face (closed mouth) beside the speaker: (frame, alpha mask (H, W, 1))."""
    look = dataclasses.replace(portrait_look(speaker, offset=(0.22, 0.10), mirror=not speaker.look.mirror),
                               hue_shift=speaker.look.hue_shift + 8, face_scale=FACE_SCALE * 0.95)
    base, frame_rig = render_speaker_base(face_photo(), rig, look, rng)
    face_h = float(np.linalg.norm(frame_rig.chin - frame_rig.eyes.mean(axis=0)))
    cx, cy = (frame_rig.eyes.mean(axis=0) + frame_rig.chin) / 2
    mask = np.zeros(base.shape[:2], np.float32)
    cv2.ellipse(mask, (int(cx), int(cy - 0.15 * face_h)), (int(1.0 * face_h), int(1.4 * face_h)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.06 * face_h)[..., None]
    return add_skin_texture(base, rng), mask


def render_realistic(spec: VideoSpec, rig: LipRig, path: Path) -> dict:
    """Speak, animate and encode one realistic source (HEVC portrait); return its truth record."""
    kind = spec.realistic
    if kind not in REALISTIC_KINDS:
        raise ValueError(f"{spec.video_id}: unknown realistic kind {kind!r}; expected one of {REALISTIC_KINDS}")
    rng = np.random.default_rng([spec.seed, 3])
    spoken = speak(spec, rng)
    n_frames = int(round(spoken.duration * spec.fps))
    track = mouth_track(spoken.phonemes, spoken.spans, spoken.audio, spoken.sample_rate, n_frames, spec.fps)
    look = portrait_look(spec.speaker)
    base, frame_rig = render_speaker_base(face_photo(), rig, look, rng)
    base = add_skin_texture(base, rng)
    geo = MouthGeometry.from_rig(frame_rig, look.frame_size)
    face_h = float(np.linalg.norm(frame_rig.chin - frame_rig.eyes.mean(axis=0)))
    motion = head_motion(n_frames, spec.fps, rng, centre=frame_rig.nose, drift_px=0.06 * face_h, rotate_deg=2.0)
    mouth_xy = motion[:, :, :2] @ geo.origin + motion[:, :, 2]
    second = _second_person(spec.speaker, rig, rng) if kind == "two_faces" else None
    span = (n_frames // 3, 2 * n_frames // 3) if second is not None else None

    def frames():
        for k, frame in enumerate(talking_frames(base, geo, track, motion)):
            if second is not None and span[0] <= k < span[1]:
                other, alpha = second
                frame = (frame * (1 - alpha) + other * alpha).astype(np.uint8)
            if kind == "blurred":
                frame = cv2.GaussianBlur(frame, (0, 0), BLUR_SIGMA)
            yield frame

    audio = spoken.audio
    shift = AUDIO_SHIFT_FRAMES if kind == "audio_shift" else 0
    if shift:  # delay: silence in front, the same length overall
        pad = int(round(shift / 25 * spec.sample_rate))
        audio = np.concatenate([np.zeros(pad, audio.dtype), audio[: len(audio) - pad]])
    write_mp4(path, frames(), look.frame_size, spec.fps, audio, spec.sample_rate, codec="libx265")
    truth = truth_record(spec, spoken, track, n_frames, mouth_xy)
    truth.update(realistic=kind, audio_shift_frames=shift, second_face_frames=list(span) if span else None)
    return truth
