"""Score a folder of videos with LSE-C / LSE-D: decode ahead in threads, batch windows across videos.

Where the time goes (2-core CPU, 224x224 clips): the syncnet_v2 lip tower is
~90 % of it, so this module keeps the network busy: worker threads decode the
next videos (ffmpeg subprocesses, JPEG decode and MFCC release the GIL) while
the main thread runs the network; windows from consecutive videos fill one
batch of ``batch_size`` so short clips do not leave a GPU idle; and the lip
tower runs as channels-last 2-D convolutions (:mod:`evaluation.fast_syncnet`).
Per-clip numbers follow :mod:`evaluation.metrics.lse` exactly.

A video that cannot be scored (unreadable, no audio, fewer than 6 frames, no
face track) becomes a ``{"video", "reason", "detail"}`` row in ``failed`` and
the rest are still scored.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

from data_prep.schema import SAMPLES_PER_FRAME
from evaluation import media
from evaluation.face_track import TrackConfig, track_and_crop
from evaluation.registry import EvalRun, Metric, register
from evaluation.metrics.lse import (VSHIFT, LSEResult, audio_windows, lse_from_distances, mfcc_features, n_windows,
                            shift_distances, video_windows)

log = logging.getLogger(__name__)


@dataclass
class PreparedClip:
    """One decoded video, ready for the network."""

    path: Path
    frames: torch.Tensor  # (T, 224, 224, 3) uint8 BGR
    mfcc: torch.Tensor  # (13, S) float32
    n: int  # windows
    first_frame: int = 0  # of the scored span in the source video (crop=track)
    video_parts: list = field(default_factory=list)
    audio_parts: list = field(default_factory=list)


class ClipFailed(Exception):
    def __init__(self, path: Path, reason: str, detail: str):
        super().__init__(detail)
        self.path, self.reason, self.detail = path, reason, detail


def prepare_clip(path: Path, crop: str = "none", jpeg: bool = True,
                 track_cfg: TrackConfig | None = None) -> PreparedClip:
    """Decode + crop + MFCC one video. Raises ClipFailed with the results.json reason."""
    try:
        media.require_audio(path)
        audio = media.read_audio(path)
        if crop == "none":
            frames, first = media.read_frames(path, 224, jpeg), 0
        elif crop == "track":
            native = media.read_frames(path, None, jpeg)
            try:
                frames, track = track_and_crop(native, track_cfg or TrackConfig())
            except ValueError as exc:
                raise ClipFailed(path, "no_face", str(exc)) from exc
            first = int(track.frames[0])
            audio = audio[first * SAMPLES_PER_FRAME:(int(track.frames[-1]) + 1) * SAMPLES_PER_FRAME]
        else:
            raise ValueError(f"crop={crop!r}: expected 'none' or 'track'")
    except media.MediaError as exc:
        raise ClipFailed(path, exc.reason, exc.detail) from exc
    n = n_windows(len(frames), len(audio))
    if n <= 0:
        raise ClipFailed(path, "too_short", f"{len(frames)} frames, {len(audio)} audio samples: "
                         f"LSE needs at least 6 frames of both")
    return PreparedClip(path, torch.from_numpy(frames), torch.from_numpy(mfcc_features(audio)), n, first)


def prefetch(paths: list[Path], workers: int, ahead: int, **kwargs) -> Iterator[PreparedClip | ClipFailed]:
    """Prepared clips in input order, with up to ``ahead`` videos decoding in ``workers`` threads."""
    def job(p: Path) -> PreparedClip | ClipFailed:
        try:
            return prepare_clip(p, **kwargs)
        except ClipFailed as failed:
            return failed

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        queue: deque[Future] = deque()
        todo = iter(paths)
        for p in todo:
            queue.append(pool.submit(job, p))
            if len(queue) >= max(1, ahead):
                break
        while queue:
            result = queue.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                queue.append(pool.submit(job, nxt))
            yield result


def window_batches(clips: Iterator[PreparedClip], batch_size: int) -> Iterator[list[tuple[PreparedClip, int, int]]]:
    """Group windows of consecutive clips into batches of ``batch_size``: lists of (clip, start, stop)."""
    pending, size = [], 0
    for clip in clips:
        start = 0
        while start < clip.n:
            take = min(clip.n - start, batch_size - size)
            pending.append((clip, start, start + take))
            size, start = size + take, start + take
            if size == batch_size:
                yield pending
                pending, size = [], 0
    if pending:
        yield pending


@torch.no_grad()
def score_videos(model: torch.nn.Module, paths: list[Path], crop: str = "none", batch_size: int = 64,
                 workers: int = 2, ahead: int = 4, jpeg: bool = True, track_cfg: TrackConfig | None = None,
                 device: str | torch.device = "cpu", vshift: int = VSHIFT, progress: bool = True,
                 ) -> tuple[dict[str, LSEResult], list[dict]]:
    """-> ({file name: LSEResult} in input order, failed rows). ``model`` has forward_lip / forward_aud."""
    results: dict[str, LSEResult] = {}
    failed: list[dict] = []
    bar = tqdm(total=len(paths), desc="LSE", unit="video", disable=not progress or None)

    def ok_clips() -> Iterator[PreparedClip]:
        for item in prefetch(paths, workers, ahead, crop=crop, jpeg=jpeg, track_cfg=track_cfg):
            if isinstance(item, ClipFailed):
                log.warning("%s not scored: %s (%s)", item.path.name, item.reason, item.detail)
                failed.append({"video": item.path.name, "reason": item.reason, "detail": item.detail})
                bar.update(1)
                continue
            yield item

    for batch in window_batches(ok_clips(), batch_size):
        vid = torch.cat([video_windows(c.frames, s, e) for c, s, e in batch]).to(device)  # (B, 3, 5, 224, 224)
        aud = torch.cat([audio_windows(c.mfcc, s, e) for c, s, e in batch]).to(device)  # (B, 1, 13, 20)
        vid_emb, aud_emb = model.forward_lip(vid).cpu(), model.forward_aud(aud).cpu()  # (B, D)
        offset = 0
        for clip, s, e in batch:
            clip.video_parts.append(vid_emb[offset:offset + e - s])
            clip.audio_parts.append(aud_emb[offset:offset + e - s])
            offset += e - s
            if e == clip.n:
                dists = shift_distances(torch.cat(clip.video_parts), torch.cat(clip.audio_parts), vshift)
                results[clip.path.name] = lse_from_distances(dists, vshift)
                results[clip.path.name].first_frame = clip.first_frame
                clip.frames = clip.mfcc = None  # free the decoded video now
                bar.update(1)
    bar.close()
    order = {p.name: i for i, p in enumerate(paths)}
    return dict(sorted(results.items(), key=lambda kv: order[kv[0]])), failed


def summarise(results: dict[str, LSEResult]) -> dict:
    """Mean LSE-C / LSE-D over scored videos and the per-video rows of results.json."""
    rows = [{"video": name, "lse_c": r.lse_c, "lse_d": r.lse_d, "offset": r.offset} for name, r in results.items()]
    mean = (lambda key: float(np.mean([row[key] for row in rows]))) if rows else (lambda key: None)
    return {"lse_c": mean("lse_c"), "lse_d": mean("lse_d"), "videos": rows}


def lse_protocol(cfg: dict) -> dict:
    lse = cfg["lse"]
    return {"syncnet_weights": cfg["syncnet_weights"],
            "lse": {"vshift": lse["vshift"], "jpeg_roundtrip": lse["jpeg_roundtrip"], "flatten_lip": lse["flatten_lip"],
                    "fps": 25, "sample_rate": 16000, "mfcc": "python_speech_features.mfcc(int16, 16000) defaults",
                    "image_size": 224}}


def score_lse(run: EvalRun) -> None:
    """lipsync-eval's ``lse``: the published LSE-C / LSE-D of every video with syncnet_v2 weights."""
    from evaluation.fast_syncnet import SyncNetRunner
    from evaluation.syncnet_loader import load_syncnet

    cfg, lse = run.cfg, run.cfg["lse"]
    model = SyncNetRunner(load_syncnet(cfg["syncnet_weights"], cfg["device"]), lse["flatten_lip"])
    results, failed = score_videos(model, run.videos, cfg["crop"], lse["batch_size"], lse["workers"], lse["prefetch"],
                                   lse["jpeg_roundtrip"], TrackConfig(**cfg["track"]), cfg["device"], lse["vshift"],
                                   cfg["progress"])
    summary = summarise(results)
    run.lse_results.update(results)
    run.failed.extend(failed)
    run.payload.update(lse_c=summary["lse_c"], lse_d=summary["lse_d"])
    run.add_rows([{**row, "n_windows": results[row["video"]].n_windows,
                   "first_frame": results[row["video"]].first_frame} for row in summary["videos"]])


register(Metric("lse", "LSE-C / LSE-D as published (syncnet_python / Wav2Lip scoring) with syncnet_v2 weights",
                score_lse, needs=("syncnet_weights",), protocol=lse_protocol, means=("lse_c", "lse_d")))
