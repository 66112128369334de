"""A straightforward port of the reference LSE scorer, kept as the yardstick for the fast one.

It follows syncnet_python's ``SyncNetInstance.evaluate`` as Wav2Lip's
``calculate_scores_LRS.py`` calls it, step by step: ffmpeg dumps every frame to
JPEG files and the audio to a WAV file in a temporary folder, ``cv2.imread``
reads the frames back (resized to 224x224), ``python_speech_features.mfcc``
turns the int16 samples into MFCCs, the network runs on one batch of 20
windows at a time, and ``calc_pdist`` loops over windows in Python. Written
from the protocol, not copied; the benchmark (``benchmarks/bench_lse.py``) and
the tests compare :mod:`evaluation.metrics.lse` against it.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import python_speech_features
import torch
import torch.nn.functional as F
from scipy.io import wavfile


def calc_pdist_loop(video_emb: torch.Tensor, audio_emb: torch.Tensor, vshift: int = 15) -> list[torch.Tensor]:
    """The reference's per-window loop: window i against audio windows i-vshift..i+vshift (zero padded)."""
    win = 2 * vshift + 1
    padded = F.pad(audio_emb, (0, 0, vshift, vshift))
    return [F.pairwise_distance(video_emb[[i], :].repeat(win, 1), padded[i:i + win, :]) for i in range(len(video_emb))]


@torch.no_grad()
def reference_scores(model: torch.nn.Module, frames: np.ndarray, audio: np.ndarray, batch_size: int = 20,
                     vshift: int = 15) -> tuple[int, float, float, torch.Tensor]:
    """(T, 224, 224, 3) uint8 BGR frames + (N,) int16 audio -> (offset, lse_c, lse_d, mdist (31,))."""
    im = np.expand_dims(np.stack(list(frames), axis=3), 0)  # (1, H, W, 3, T)
    im = np.transpose(im, (0, 3, 4, 1, 2))  # (1, 3, T, H, W)
    imtv = torch.from_numpy(im.astype(float)).float()
    mfcc = np.stack([np.array(c) for c in zip(*python_speech_features.mfcc(audio, 16000))])  # (13, S)
    cct = torch.from_numpy(np.expand_dims(np.expand_dims(mfcc, 0), 0).astype(float)).float()  # (1, 1, 13, S)
    lastframe = min(len(frames), math.floor(len(audio) / 640)) - 5
    im_feat, cc_feat = [], []
    for i in range(0, lastframe, batch_size):
        stop = min(lastframe, i + batch_size)
        im_in = torch.cat([imtv[:, :, v:v + 5, :, :] for v in range(i, stop)], 0)
        im_feat.append(model.forward_lip(im_in))
        cc_in = torch.cat([cct[:, :, :, v * 4:v * 4 + 20] for v in range(i, stop)], 0)
        cc_feat.append(model.forward_aud(cc_in))
    dists = calc_pdist_loop(torch.cat(im_feat, 0), torch.cat(cc_feat, 0), vshift=vshift)
    mdist = torch.mean(torch.stack(dists, 1), 1)
    minval, minidx = torch.min(mdist, 0)
    offset = vshift - minidx
    conf = torch.median(mdist) - minval
    return int(offset), float(conf), float(minval), mdist


def reference_evaluate(model: torch.nn.Module, video: str | Path, batch_size: int = 20,
                       vshift: int = 15) -> tuple[int, float, float]:
    """One video file, the reference way (temporary JPEG + WAV files) -> (offset, lse_c, lse_d)."""
    with tempfile.TemporaryDirectory(prefix="lse_ref_") as tmp:
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-threads", "1", "-f", "image2",
                        f"{tmp}/%06d.jpg"], check=True)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-async", "1", "-ac", "1", "-vn",
                        "-acodec", "pcm_s16le", "-ar", "16000", f"{tmp}/audio.wav"], check=True)
        images = [cv2.resize(cv2.imread(str(f)), (224, 224)) for f in sorted(Path(tmp).glob("*.jpg"))]
        _, audio = wavfile.read(f"{tmp}/audio.wav")
    offset, conf, dist, _ = reference_scores(model, np.stack(images), audio, batch_size, vshift)
    return offset, conf, dist
