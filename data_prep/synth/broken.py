"""Bad inputs for the pipeline's drop tests, one kind per drop reason.

Each broken manifest entry carries ``"expect_drop": <reason>`` with the reason
(:data:`data_prep.workflow.drops.REASONS`) the pipeline should give when it rejects it:

- ``unreachable_url``: a ``file://`` URL whose file does not exist;
- ``corrupt_file``: a real mp4 cut to a third of its bytes (its index, written
  last, is gone, so ffprobe cannot read it);
- ``no_audio_stream``: a talking face with no audio stream at all;
- ``silence``: a talking face whose audio stream is digital silence;
- ``no_face``: speech over a slowly panned photo of a rocket (``skimage.data.rocket``);
- ``several_faces``: two speakers side by side, both talking;
- ``face_too_small``: a 320x240 video whose face (about 55 px forehead to chin,
  under the pipeline's 64 px minimum) is still big enough for mediapipe to find.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata

from data_prep.head_motion import head_motion
from data_prep.synth.face_rig import LipRig, face_photo, render_speaker_base
from data_prep.synth.generate import (FRAME_RATES, SAMPLE_RATES, Speaker, VideoSpec, render_talking_video,
                                      speak, truth_record)
from data_prep.synth.mouth import mouth_track
from data_prep.synth.render import MouthGeometry, talking_frames, write_mp4
from data_prep.synth.sentences import SENTENCES

BROKEN_KINDS = ("unreachable_url", "corrupt_file", "no_audio_stream", "silence", "no_face",
                "several_faces", "face_too_small")


def plan_broken(seed: int, speakers: list[Speaker], n_broken: int) -> list[VideoSpec]:
    """``n_broken`` specs cycling through :data:`BROKEN_KINDS` (ids ``broken_<kind>[_<n>]``)."""
    rng = np.random.default_rng([seed, 4])
    specs = []
    for i in range(n_broken):
        kind = BROKEN_KINDS[i % len(BROKEN_KINDS)]
        repeat = i // len(BROKEN_KINDS)
        specs.append(VideoSpec(
            video_id=f"broken_{kind}" + (f"_{repeat}" if repeat else ""), speaker=speakers[i % len(speakers)],
            sentences=(int(rng.integers(len(SENTENCES))),),  # one sentence: short files, fast tests
            rate=speakers[i % len(speakers)].rate, fps=float(FRAME_RATES[i % len(FRAME_RATES)]),
            sample_rate=int(SAMPLE_RATES[i % len(SAMPLE_RATES)]), seed=int(rng.integers(2**31)), broken=kind))
    return specs


def render_broken(spec: VideoSpec, rig: LipRig, path: Path) -> dict | None:
    """Write the broken input ``spec.broken`` at ``path``; return its truth record (None if no file)."""
    path = Path(path)
    kind = spec.broken
    if kind == "unreachable_url":
        path.unlink(missing_ok=True)
        return None
    if kind == "corrupt_file":
        truth = render_talking_video(spec, rig, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
        return truth
    if kind == "no_audio_stream":
        return render_talking_video(spec, rig, path, audio=False)
    if kind == "silence":
        return render_talking_video(spec, rig, path, silent=True)
    if kind == "face_too_small":
        look = dataclasses.replace(spec.speaker.look, frame_size=(320, 240), face_scale=0.17, rotation_deg=0.0,
                                   offset=(0.2, 0.05), background="flat")
        small = dataclasses.replace(spec, speaker=dataclasses.replace(spec.speaker, look=look))
        return render_talking_video(small, rig, path)
    if kind == "no_face":
        return _render_no_face(spec, path)
    if kind == "several_faces":
        return _render_two_faces(spec, rig, path)
    raise ValueError(f"unknown broken kind {kind!r} for {spec.video_id}; expected one of {BROKEN_KINDS}")


def _speech_and_track(spec: VideoSpec, rng: np.random.Generator):
    spoken = speak(spec, rng)
    n_frames = int(round(spoken.duration * spec.fps))
    track = mouth_track(spoken.phonemes, spoken.spans, spoken.audio, spoken.sample_rate, n_frames, spec.fps)
    return spoken, track, n_frames


def _render_no_face(spec: VideoSpec, path: Path) -> dict:
    rng = np.random.default_rng([spec.seed, 3])
    spoken, track, n_frames = _speech_and_track(spec, rng)
    scene = skdata.rocket()  # (427, 640, 3) a launch pad, no people
    size = (480, 360)

    def frames():
        for k in range(n_frames):  # a slow pan and zoom across the photo
            s = 1.1 + 0.1 * k / max(n_frames, 1)
            affine = np.float32([[s, 0, -40 * k / max(n_frames, 1)], [0, s, -20]])
            yield cv2.warpAffine(scene, affine, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)

    write_mp4(path, frames(), size, spec.fps, spoken.audio, spec.sample_rate)
    return truth_record(spec, spoken, track, n_frames, None)


def _render_two_faces(spec: VideoSpec, rig: LipRig, path: Path) -> dict:
    rng = np.random.default_rng([spec.seed, 3])
    spoken, track, n_frames = _speech_and_track(spec, rng)
    half = (320, 360)
    streams = []
    for side, mirror in ((-1, False), (1, True)):
        look = dataclasses.replace(spec.speaker.look, frame_size=half, face_scale=0.4, mirror=mirror,
                                   offset=(0.03 * side, 0.0), hue_shift=spec.speaker.look.hue_shift + 4 * side)
        base, frame_rig = render_speaker_base(face_photo(), rig, look, rng)
        geo = MouthGeometry.from_rig(frame_rig, half)
        motion = head_motion(n_frames, spec.fps, rng, centre=frame_rig.nose, drift_px=5.0)
        streams.append(talking_frames(base, geo, track, motion))
    frames = (np.hstack([left, right]) for left, right in zip(*streams))  # (360, 640, 3)
    write_mp4(path, frames, (2 * half[0], half[1]), spec.fps, spoken.audio, spec.sample_rate)
    return truth_record(spec, spoken, track, n_frames, None)
