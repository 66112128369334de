"""LSE-C / LSE-D: the published lip-sync error protocol, vectorised.

Protocol (syncnet_python ``SyncNetInstance.evaluate`` + Wav2Lip's scoring):

- audio: 16 kHz mono int16 samples, *not* rescaled, through
  ``python_speech_features.mfcc(signal, 16000)`` with its defaults
  (25 ms window, 10 ms step, 13 ceps) -> ``(13, S)``;
- video: 25 fps BGR frames 0..255, 224x224, no normalisation;
- ``n = min(n_frames, floor(n_samples / 640)) - 5`` windows; window ``i`` is
  frames ``i..i+4`` and MFCC columns ``4i..4i+19``;
- for every window and every shift ``k`` in ``-15..15`` the L2 distance
  (``pairwise_distance``, eps 1e-6) between the video embedding of window ``i``
  and the audio embedding of window ``i+k`` (a zero vector outside the clip);
  the mean over windows gives 31 values ``mdist``;
- LSE-D = ``min(mdist)``, LSE-C = ``median(mdist) - min(mdist)``, AV offset =
  ``15 - argmin(mdist)``.

The reference loops over windows in Python; here the shifted audio embeddings
are one strided view and all distances come from a single ``pairwise_distance``
call over ``(n, 31, D)``, with the reduction orders chosen so the numbers
equal the reference loop's (``tests/test_eval_lse.py`` checks both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import python_speech_features
import torch
import torch.nn.functional as F

from data_prep.schema import SAMPLE_RATE, SAMPLES_PER_FRAME

VSHIFT = 15
WINDOW_FRAMES = 5
MFCC_STEPS_PER_FRAME = 4
MFCC_WINDOW = 20
MIN_FRAMES = WINDOW_FRAMES + 1  # 6 frames give the first window


@dataclass
class LSEResult:
    """One clip's scores, plus what the report plots."""

    lse_c: float
    lse_d: float
    offset: int
    n_windows: int
    mdist: np.ndarray  # (31,) mean distance per shift, shift k = index - 15
    window_dists: np.ndarray = field(repr=False)  # (n, 31) per-window distances
    first_frame: int = 0  # first scored frame of the source video (crop=track)

    def window_confidence(self) -> np.ndarray:
        """(n,) per-window confidence at the clip's offset: median(mdist) - d[i, argmin] (the reference's fconf)."""
        best = int(np.argmin(self.mdist))
        return float(np.median(self.mdist)) - self.window_dists[:, best]


def mfcc_features(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(N,) int16 samples -> (13, S) float32 MFCCs, ``python_speech_features.mfcc`` defaults, no rescaling."""
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (N,), got shape {audio.shape}")
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"audio sample rate {sample_rate}: the LSE protocol needs {SAMPLE_RATE} Hz")
    return np.ascontiguousarray(python_speech_features.mfcc(audio, sample_rate).T.astype(np.float32))


def n_windows(n_frames: int, n_samples: int) -> int:
    """Windows the protocol scores: ``min(n_frames, floor(n_samples / 640)) - 5`` (may be <= 0)."""
    return min(n_frames, n_samples // SAMPLES_PER_FRAME) - WINDOW_FRAMES


def video_windows(frames: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """(T, H, W, 3) uint8 BGR -> (stop - start, 3, 5, H, W) float32 windows ``i..i+4`` for i in [start, stop)."""
    clip = frames[start:stop + WINDOW_FRAMES - 1].permute(3, 0, 1, 2)  # (3, t, H, W) uint8 view
    win = clip.unfold(1, WINDOW_FRAMES, 1)  # (3, n, H, W, 5)
    return win.permute(1, 0, 4, 2, 3).float()  # (n, 3, 5, H, W), contiguous float copy


def audio_windows(mfcc: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """(13, S) MFCC -> (stop - start, 1, 13, 20): window i is columns 4i..4i+19."""
    cols = mfcc[:, MFCC_STEPS_PER_FRAME * start: MFCC_STEPS_PER_FRAME * (stop - 1) + MFCC_WINDOW]
    win = cols.unfold(1, MFCC_WINDOW, MFCC_STEPS_PER_FRAME)  # (13, n, 20)
    return win.permute(1, 0, 2).unsqueeze(1).contiguous()


def shift_distances(video_emb: torch.Tensor, audio_emb: torch.Tensor, vshift: int = VSHIFT) -> torch.Tensor:
    """(n, D), (n, D) -> (n, 2*vshift+1): d[i, j] = |v_i - a_{i+j-vshift} + 1e-6| with a = 0 outside the clip."""
    padded = F.pad(audio_emb, (0, 0, vshift, vshift))  # (n + 2 vshift, D)
    shifted = padded.unfold(0, 2 * vshift + 1, 1).transpose(1, 2)  # (n, 31, D) view
    return F.pairwise_distance(video_emb.unsqueeze(1).expand_as(shifted).contiguous(), shifted.contiguous(), eps=1e-6)


def lse_from_distances(dists: torch.Tensor, vshift: int = VSHIFT) -> LSEResult:
    """(n, 31) per-window distances -> LSEResult (LSE-D = min of the mean, LSE-C = median - min)."""
    mdist = torch.mean(dists.t().contiguous(), 1)  # (31,), reduced in the reference's layout
    minval, minidx = torch.min(mdist, 0)
    conf = torch.median(mdist) - minval
    return LSEResult(lse_c=float(conf), lse_d=float(minval), offset=int(vshift - minidx), n_windows=len(dists),
                     mdist=mdist.numpy(), window_dists=dists.numpy())


@torch.no_grad()
def embed_windows(model: torch.nn.Module, frames: torch.Tensor, mfcc: torch.Tensor, n: int,
                  batch_size: int = 64, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """All n windows of one clip -> (video (n, D), audio (n, D)) embeddings on the CPU."""
    vid, aud = [], []
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        vid.append(model.forward_lip(video_windows(frames, start, stop).to(device)).cpu())
        aud.append(model.forward_aud(audio_windows(mfcc, start, stop).to(device)).cpu())
    return torch.cat(vid), torch.cat(aud)


def lse_scores(model: torch.nn.Module, frames: np.ndarray, audio: np.ndarray, batch_size: int = 64,
               vshift: int = VSHIFT, device: str | torch.device = "cpu") -> LSEResult:
    """One clip: (T, 224, 224, 3) uint8 BGR frames + (N,) int16 16 kHz audio -> LSEResult.

    Raises ValueError when the clip has fewer than 6 frames (or audio for fewer than 6 frames).
    """
    n = n_windows(len(frames), len(audio))
    if n <= 0:
        raise ValueError(f"clip too short for LSE: {len(frames)} frames and {len(audio)} samples give "
                         f"{n} windows; at least {MIN_FRAMES} frames of video and audio are needed")
    mfcc = torch.from_numpy(mfcc_features(audio))
    video_emb, audio_emb = embed_windows(model, torch.from_numpy(frames), mfcc, n, batch_size, device)
    return lse_from_distances(shift_distances(video_emb, audio_emb, vshift), vshift)
