"""FID between the frames of generated and reference videos, as pytorch-fid computes it.

Features: 2048-d pool activations of :class:`evaluation.fid_inception.FIDInceptionV3`
for every frame (RGB in [0, 1]; the network resizes to 299 and scales to
[-1, 1]). Frames of all videos on one side are pooled into one set, as
Wav2Lip's evaluation does with its face crops. Statistics: ``np.mean`` and
``np.cov(rowvar=False)`` in float64 over the stacked activations, exactly
pytorch-fid's ``calculate_activation_statistics``; the distance is its
``calculate_frechet_distance`` (scipy ``sqrtm``, a 1e-6 diagonal offset when
the product is singular, an error on an imaginary part above 1e-3).

torchmetrics' ``FrechetInceptionDistance`` was not used for accumulation: it
computes the matrix square root with its own eigenvalue routine, so its
numbers differ from pytorch-fid's in the last digits, and pytorch-fid's
numbers are the ones papers report.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from scipy import linalg
from tqdm import tqdm

from evaluation.registry import EvalRun, Metric, register

log = logging.getLogger(__name__)


def activation_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) activations -> (mean (D,), covariance (D, D)) in float64."""
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"FID needs at least 2 feature rows (N, D), got shape {features.shape}")
    features = features.astype(np.float64)
    return np.mean(features, axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), the way pytorch-fid evaluates it."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"FID statistics disagree: means {mu1.shape} vs {mu2.shape}, "
                         f"covariances {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        log.warning("FID: singular covariance product; adding %g to the diagonals", eps)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: matrix square root has an imaginary component {np.max(np.abs(covmean.imag)):g}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


@torch.no_grad()
def frame_features(model: torch.nn.Module, frame_batches: Iterable[np.ndarray],
                   device: str | torch.device = "cpu") -> np.ndarray:
    """Batches of (B, H, W, 3) uint8 BGR frames -> (N, 2048) float32 activations."""
    feats = []
    for frames in frame_batches:
        rgb = torch.from_numpy(np.ascontiguousarray(frames[..., ::-1])).to(device)  # (B, H, W, 3)
        x = rgb.permute(0, 3, 1, 2).float() / 255.0  # (B, 3, H, W) in [0, 1]
        feats.append(model(x).cpu().numpy())
    return np.concatenate(feats) if feats else np.empty((0, 2048), np.float32)


def video_frame_batches(paths: list[Path], read: Callable[[Path], np.ndarray], batch_size: int = 50,
                        every_nth: int = 1, desc: str = "FID") -> Iterable[np.ndarray]:
    """Frames of every video (``read(path)`` -> (T, H, W, 3) BGR or None to skip), every ``every_nth``, in batches."""
    pending: list[np.ndarray] = []
    for path in tqdm(paths, desc=desc, unit="video", disable=None):
        frames = read(path)
        if frames is None or len(frames) == 0:
            continue
        frames = frames[::every_nth]
        if pending and pending[0].shape != frames.shape[1:]:
            yield np.stack(pending)  # frame sizes differ between videos: flush
            pending = []
        pending.extend(frames)
        while len(pending) >= batch_size:
            yield np.stack(pending[:batch_size])
            pending = pending[batch_size:]
    if pending:
        yield np.stack(pending)


def fid_between(model: torch.nn.Module, generated: list[Path], reference: list[Path],
                read: Callable[[Path], np.ndarray], batch_size: int = 50, every_nth: int = 1,
                device: str | torch.device = "cpu") -> dict:
    """FID of the pooled frames of two video lists -> {"fid", "n_generated_frames", "n_reference_frames"}."""
    sides = {}
    for name, paths in (("generated", generated), ("reference", reference)):
        feats = frame_features(model, video_frame_batches(paths, read, batch_size, every_nth, f"FID {name}"), device)
        sides[name] = (activation_statistics(feats), len(feats))
    (mu1, s1), n1 = sides["generated"]
    (mu2, s2), n2 = sides["reference"]
    return {"fid": frechet_distance(mu1, s1, mu2, s2), "n_generated_frames": n1, "n_reference_frames": n2}


def face_features(model: torch.nn.Module, faces: np.ndarray, batch_size: int = 50) -> np.ndarray:
    """Aligned RGB faces (N, S, S, 3) uint8 -> (N, 2048) Inception activations."""

    def batches():
        for i in range(0, len(faces), batch_size):
            yield np.ascontiguousarray(faces[i:i + batch_size, :, :, ::-1])  # frame_features takes BGR

    return frame_features(model, batches())


def fid_of_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two sets of activations (N, 2048), as pytorch-fid computes it."""
    return float(frechet_distance(*activation_statistics(a), *activation_statistics(b)))


def fid_of_faces(model: torch.nn.Module, generated: np.ndarray, reference: np.ndarray) -> float:
    """FID between two sets of aligned RGB faces (N, S, S, 3) uint8, as pytorch-fid computes it."""
    return fid_of_features(face_features(model, generated), face_features(model, reference))


def fid_frame_reader(crop: str, track_cfg):
    """FID frames of one video: whole frames (crop=none) or the tracked face crops; None when unreadable."""
    from evaluation import media
    from evaluation.face_track import track_and_crop

    def read(path: Path):
        try:
            frames = media.read_frames(path, None, jpeg=False)
            return track_and_crop(frames, track_cfg)[0] if crop == "track" else frames
        except (media.MediaError, ValueError) as exc:
            log.warning("FID: %s left out: %s", path.name, exc)
            return None
    return read


def fid_protocol(cfg: dict) -> dict:
    return {"fid": {"inception_weights": cfg["inception_weights"], "reference": cfg["reference"],
                    "every_nth_frame": cfg["fid"]["every_nth_frame"], "resize": "bilinear 299, no antialias"}}


def score_fid(run: EvalRun) -> None:
    """lipsync-eval's ``fid``: the pooled frames of ``videos`` against those of ``reference``."""
    from evaluation import media
    from evaluation.face_track import TrackConfig
    from evaluation.fid_inception import load_fid_inception

    cfg = run.cfg
    inception = load_fid_inception(cfg["inception_weights"], cfg["device"])
    read = fid_frame_reader(cfg["crop"], TrackConfig(**cfg["track"]))
    run.payload.update(fid_between(inception, run.videos, media.list_videos(cfg["reference"]), read,
                                   cfg["fid"]["batch_size"], cfg["fid"]["every_nth_frame"], cfg["device"]))


register(Metric("fid", "FID of the generated frames against the reference videos' frames (pytorch-fid)", score_fid,
                needs=("reference", "inception_weights"), protocol=fid_protocol, means=("fid",)))
