"""One source video through every stage, into the encoded samples of its clips.

    download -> normalise (25 fps, 16 kHz, native resolution) -> phoneme
    alignment of the whole transcript -> shots -> face tracking -> usable
    segments -> clips -> face alignment -> quality filters -> [sync filter]
    -> per-clip TextGrid + frame labels -> samples

The function runs in a worker process and never raises for bad input: a stage
that rejects the source raises :class:`Dropped`, which becomes a drop record;
a clip-level rejection drops only that clip. An unexpected exception is a
drop with reason ``internal_error`` and its traceback, so one odd video
cannot stop a run over thousands. Stage wall times are returned for the
benchmark and the run summary.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_prep import schema
from data_prep.workflow.drops import Dropped
from data_prep.workflow.manifest import ManifestEntry

log = logging.getLogger(__name__)
PIPELINE_VERSION = f"data_prep-0.1.0+schema{schema.SCHEMA_VERSION}"


@dataclass
class SourceResult:
    id: str
    samples: list[dict] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    frames: int = 0  # frames of the normalised source
    quality: dict[str, dict] = field(default_factory=dict)  # kept clip key -> its quality measures

    def record(self) -> dict:
        """The JSON-able summary kept in the work folder (samples live in the source tar)."""
        return {"id": self.id, "kept": [s["__key__"] for s in self.samples], "dropped": self.dropped,
                "timings": {k: round(v, 4) for k, v in self.timings.items()}, "frames": self.frames,
                "seconds": round(sum(s["_seconds"] for s in self.samples), 3), "quality": self.quality}


def _phonemes_record(align_status: dict) -> dict:
    """The clip's phoneme status for index.json: ``phonemes`` and, when aligned, ``alignment_confidence``."""
    status = align_status["status"]
    if status == "ok":
        return {"phonemes": "ok", "alignment_confidence": align_status["confidence"]}
    return {"phonemes": f"{status}:{align_status.get('reason', '')}"}


@contextmanager
def _timed(result: SourceResult, stage: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        result.timings[stage] = result.timings.get(stage, 0.0) + time.perf_counter() - start


_ALIGNERS: dict = {}


def _aligner(cfg: dict):
    """One aligner per worker process and configuration (MFA/espeak set-up is not free)."""
    from data_prep.phonemes import make_aligner

    key = repr(sorted(cfg.items()))
    if key not in _ALIGNERS:
        options = {"diacritizer": cfg["diacritizer"]} if cfg["aligner"] in ("auto", "builtin", "ctc") else {}
        if cfg["aligner"] in ("auto", "builtin") and "posterior_model" in cfg:
            options["posterior_model"] = cfg["posterior_model"]
        if cfg["aligner"] in ("auto", "ctc"):
            options["ctc_model"] = cfg.get("ctc_model")
        if cfg.get("mfa_acoustic_model") and cfg.get("mfa_dictionary"):
            options.update(acoustic_model=cfg["mfa_acoustic_model"], dictionary=cfg["mfa_dictionary"])
        _ALIGNERS[key] = make_aligner(cfg["aligner"], min_confidence=cfg["min_confidence"], **options)
    return _ALIGNERS[key]


def _intersect(shots: list[tuple[int, int]], runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Frame ranges lying inside both one shot and one face run."""
    out = []
    for s0, s1 in shots:
        for r0, r1 in runs:
            lo, hi = max(s0, r0), min(s1, r1)
            if hi > lo:
                out.append((lo, hi))
    return sorted(out)


def _speaker_rule(rules: np.ndarray) -> str:
    """The rule that chose a clip's face: the commonest non-"single" rule of its frames, else "single"."""
    from collections import Counter

    chosen = Counter(r for r in rules if r and r != "single")
    return chosen.most_common(1)[0][0] if chosen else "single"


def process_source(entry: ManifestEntry, cfg: dict, split: str, work_dir: Path, sync_filter=None) -> SourceResult:
    """Run every stage for ``entry``; ``cfg`` is the resolved data_prep config as a plain dict."""
    result = SourceResult(entry.id)
    scratch = work_dir / "scratch" / schema.sample_key(entry.id, 0)
    try:
        _run_stages(entry, cfg, split, work_dir, scratch, result, sync_filter)
    except Dropped as drop:
        result.samples.clear()
        result.dropped.append({"id": entry.id, "stage": drop.stage, "reason": drop.reason, "detail": drop.detail})
    except Exception as exc:  # noqa: BLE001 - recorded with its traceback, never swallowed silently
        log.exception("unexpected error on source %s", entry.id)
        result.samples.clear()
        result.dropped.append({"id": entry.id, "stage": "pipeline", "reason": "internal_error",
                               "detail": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"})
    finally:
        if not cfg.get("keep_intermediate", False):
            shutil.rmtree(scratch, ignore_errors=True)
    return result


def _run_stages(entry, cfg, split, work_dir, scratch, result, sync_filter) -> None:
    from data_prep.workflow.download import download
    from data_prep.face_align import align_frames, estimate_affines, open_video, transform_points
    from data_prep.faces import smooth_landmarks, track_faces, usable_runs
    from data_prep.workflow.normalise import normalise
    from data_prep.workflow.quality import QualityThresholds, check_quality, check_upscale, measure_clip, upscale_factor
    from data_prep.workflow.shots import detect_shots, segment_clips

    dl, norm, shots_cfg, clips_cfg = cfg["download"], cfg["normalise"], cfg["shots"], cfg["clips"]
    faces_cfg, align_cfg, phon_cfg = cfg["faces"], cfg["align"], cfg["phonemes"]
    limits = QualityThresholds.from_config(cfg.get("quality"))
    with _timed(result, "download"):
        raw = download(entry.url, dl["cache_dir"], retries=dl["retries"], video_format=dl["format"])
    with _timed(result, "normalise"):
        media = normalise(raw, scratch, entry.start, entry.end, fps=schema.FPS, sample_rate=schema.SAMPLE_RATE,
                          max_height=norm["max_height"], max_short_side=norm["max_short_side"],
                          min_seconds=norm["min_seconds"],
                          silence_dbfs=norm["silence_dbfs"])
    result.frames = media.n_frames

    alignment, align_status = None, {"status": "skipped", "reason": "no_transcript"}
    # a converter's marks on the transcript (``text_too_fast``: it runs past the clip) travel into the clip meta;
    # a mark in ``phonemes.skip_marks`` keeps the video and audio but leaves the transcript unaligned
    marks = sorted(entry.extra.get("marks") or [])
    skip = sorted(set(marks) & set(phon_cfg.get("skip_marks") or []))
    aligner = _aligner(phon_cfg) if entry.text.strip() and not skip else None
    if entry.text.strip() and skip:
        align_status = {"status": "skipped", "reason": f"marked_{skip[0]}"}
    elif entry.text.strip() and aligner is None:
        align_status = {"status": "skipped", "reason": "aligner_disabled"}
    if aligner is not None:
        from data_prep.phone_inventory import phone_set_name
        from data_prep.phonemes import AlignmentFailed

        with _timed(result, "phonemes"):
            try:
                alignment = aligner.align(media.audio, schema.SAMPLE_RATE, entry.text, lang=entry.lang)
                align_status = {"status": "ok", "aligner": alignment.aligner,
                                "confidence": round(float(alignment.confidence), 4),
                                "lang": entry.lang, "phone_set": phone_set_name(entry.lang),
                                "unaligned_words": list(alignment.meta.get("unaligned_words", []))}
            except AlignmentFailed as failed:
                if phon_cfg["drop_failed"]:
                    raise Dropped("phonemes", "alignment_failed", getattr(failed, "reason", str(failed))) from None
                align_status = {"status": "failed", "aligner": aligner.name, "lang": entry.lang,
                                "reason": getattr(failed, "reason", str(failed))}
    if marks:
        align_status["transcript_marks"] = marks

    with _timed(result, "shots"):
        shots = detect_shots(media.video, threshold=shots_cfg["threshold"], min_shot_frames=shots_cfg["min_shot_frames"])
    with _timed(result, "faces"):
        track = track_faces(media.video, max_side=faces_cfg["max_side"],
                            min_detection_confidence=faces_cfg["min_detection_confidence"],
                            counter_model=faces_cfg.get("counter_model", 1))
        speaker_rules = np.where(track.n_faces == 1, "single", "").astype(object)
        if faces_cfg.get("active_speaker", True):
            from data_prep.workflow.active_speaker import resolve_speaker

            speaker_rules = resolve_speaker(track, media.audio, (media.width, media.height),
                                            getattr(entry, "box", None))
    clip_frames = int(round(clips_cfg["seconds"] * schema.FPS))
    min_frames = int(round(clips_cfg["min_seconds"] * schema.FPS))
    runs, rejected = usable_runs(track, min_face_size=faces_cfg["min_face_size"], min_frames=min_frames)
    ranges = segment_clips(_intersect(shots, runs), clip_frames=clip_frames, min_frames=min_frames)
    if not ranges:
        reason = rejected.most_common(1)[0][0] if rejected else "no_usable_segment"
        raise Dropped("faces", reason, f"no segment of {min_frames}+ frames with one large-enough face; "
                      f"rejected frames: {dict(rejected)}")
    landmarks = smooth_landmarks(track.landmarks, window=faces_cfg["smooth_window"])  # (T, 478, 2)
    reader = open_video(media.video)  # one open video for all clips of the source

    for clip_index, (start, stop) in enumerate(ranges):
        key = schema.sample_key(entry.id, clip_index)
        try:
            with _timed(result, "align"):
                affines = estimate_affines(landmarks[start:stop], size=align_cfg["size"],
                                           smooth_window=align_cfg["smooth_window"],
                                           template=align_cfg.get("template", "mesh"))  # (n, 2, 3)
                # before decoding: a face that needs too much upscaling is not worth warping
                check_upscale(upscale_factor(affines), align_cfg["size"], limits, key)
                frames = align_frames(media.video, start, stop, affines, size=align_cfg["size"],
                                      reader=reader)  # (n, S, S, 3)
                points = transform_points(landmarks[start:stop], affines)  # (n, 478, 2)
            with _timed(result, "quality"):
                pose = track.pose[start:stop] if track.pose is not None else None
                quality = measure_clip(affines, frames, pose, track.landmarks[start:stop])
                quality["speaker"] = _speaker_rule(speaker_rules[start:stop])
                check_quality(quality, limits, key)
            audio = media.audio[start * schema.SAMPLES_PER_FRAME: stop * schema.SAMPLES_PER_FRAME]
            video_sel, audio_sel, sync_meta = slice(0, stop - start), slice(0, stop - start), {"status": "skipped"}
            if sync_filter is not None:
                with _timed(result, "sync"):
                    video_sel, audio_sel, sync_meta = sync_filter.check(frames, audio)
            frames, points, affines = frames[video_sel], points[video_sel], affines[video_sel]
            audio = audio[audio_sel.start * schema.SAMPLES_PER_FRAME: audio_sel.stop * schema.SAMPLES_PER_FRAME]
            clip_start = (start + video_sel.start) / schema.FPS
            n = len(frames)
            textgrid = phone_ids = viseme_ids = None
            if alignment is not None:
                # the words spoken in this clip are those of the *audio* frames we keep
                audio_start = (start + audio_sel.start) / schema.FPS
                clip_alignment = alignment.crop(audio_start, audio_start + n / schema.FPS)
                textgrid = clip_alignment.to_textgrid(n / schema.FPS)
                phone_ids, viseme_ids = clip_alignment.frame_labels(n, schema.FPS)
            meta = schema.ClipMeta(
                source_id=entry.id, clip_index=clip_index, speaker=entry.speaker_id, split=split,
                start=round(clip_start, 4), end=round(clip_start + n / schema.FPS, 4),
                source_start=float(entry.start or 0.0), n_frames=n, size=align_cfg["size"],
                affines=np.round(affines, 5).tolist(), source_size=(media.width, media.height),
                text=entry.text, lang=entry.lang, sync=sync_meta, alignment=dict(align_status),
                quality=quality, pipeline_version=PIPELINE_VERSION,
            )
            clip = schema.Clip(frames, audio, points, meta, textgrid, phone_ids, viseme_ids)
            sample = schema.encode_sample(clip, jpeg_quality=align_cfg["jpeg_quality"])
            sample["_seconds"] = n / schema.FPS
            result.samples.append(sample)
            # index.json's per-clip record: the quality measures, when checked the sync measures, and whether
            # the clip carries phonemes ("ok", or "failed:<reason>" / "skipped:<reason>")
            result.quality[key] = dict(quality, **{f"sync_{k}": v for k, v in sync_meta.items() if k != "status"},
                                       **_phonemes_record(align_status))
        except Dropped as drop:
            # a clip-level drop: the source's other clips are kept
            result.dropped.append({"id": key, "stage": drop.stage, "reason": drop.reason, "detail": drop.detail})
