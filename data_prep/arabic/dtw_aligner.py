"""The built-in forced aligner: espeak-ng template + DTW over MFCCs.

No public Arabic acoustic model exists for forced alignment, but espeak-ng
can *say* any diacritised text and report when it said each phone. So we
synthesise the transcript (the template), align the template's MFCC frames to
the real audio's with dynamic time warping, and carry the template's phone
boundaries across the warping path.

Details that matter:

* rate matching -- the template is re-synthesised at a speaking rate chosen so
  its voiced duration matches the real audio's, which keeps the warping path
  near the diagonal;
* features -- 13 MFCCs without c0 plus deltas, mean/variance normalised per
  utterance (removes channel and most speaker level differences), 10 ms hop;
* memory -- a multiscale corridor DTW (the FastDTW idea: solve at half
  resolution, widen the path by ``radius`` frames, refine inside it) keeps
  memory and time linear in the audio length, so minutes of audio align in
  seconds. Each row of the corridor is filled with numpy: with steps
  (1,1), (1,0), (0,1) the horizontal recursion is a running minimum over
  ``A - prefix_sum(cost)``;
* confidence -- with phonet's weights installed, the phone posterior margin
  of data_prep/arabic/posterior_margin.py (far better on real voices; Arabic,
  English and the other phones of data_prep/phone_inventory.py). Without
  them, the fallback below:
  a null model on the same audio: the same template cut into
  200 ms chunks and shuffled (same voice, same phones, same length, wrong
  order) is aligned too, and the margin ``1 - cost(template) / mean
  cost(shuffled)`` says how much better the transcript's phone *order* fits
  than chance. The margin is computed on coarse features (:func:`coarse_features`:
  8 log-mel bands, smoothed over 30 ms), not on the MFCCs that time the
  phones: the broad spectral shape of speech (silence, vowel, fricative,
  nasal) is shared by espeak-ng and real voices, while the MFCCs' finer
  detail is speaker-specific and made right and wrong transcripts of real
  recordings indistinguishable. On 34 real recordings (benchmarks/
  bench_real_speech.py, README) the 0.35 gate passes 53% of right transcripts
  and 6.8% of wrong ones with coarse margins, 15% and 0.5% with MFCC margins;
  on espeak-ng voices alone (the stand-in set) the coarse margin also passes a
  third of wrong transcripts, which real voices do not show.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal
import torch

log = logging.getLogger(__name__)

FEATURE_RATE = 16_000
HOP_S = 0.010
N_MFCC = 13
FULL_DTW_MAX = 400
# below FULL_DTW_MAX frames a side, solve the whole matrix
N_NULL, NULL_CHUNK_S = 3, 0.2  # shuffled templates per alignment, and their chunk length
MARGIN_FULL = 0.15  # a margin at which the confidence reads 1.0 (typical right transcripts: 0.10-0.18)


@functools.lru_cache(maxsize=2)
def _mel_matrix(n_fft: int, n_mels: int, sample_rate: int) -> np.ndarray:
    from transformers.audio_utils import mel_filter_bank

    return mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=60.0,
                           max_frequency=sample_rate / 2 - 200, sampling_rate=sample_rate,
                           norm="slaney", mel_scale="slaney").astype(np.float32)  # (n_fft/2+1, n_mels)


def to_feature_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """int16 or float audio (n,) at any rate -> float32 (m,) at 16 kHz in [-1, 1]."""
    x = audio.astype(np.float32)
    if audio.dtype == np.int16:
        x /= 32768.0
    if sample_rate != FEATURE_RATE:
        g = np.gcd(int(sample_rate), FEATURE_RATE)
        x = scipy.signal.resample_poly(x, FEATURE_RATE // g, int(sample_rate) // g).astype(np.float32)
    return x


def _log_mel(audio16k: np.ndarray, n_mels: int) -> np.ndarray:
    """(n,) float32 at 16 kHz -> (T, n_mels) log mel energies, 25 ms Hann window, 10 ms hop."""
    n_fft, hop = 512, int(HOP_S * FEATURE_RATE)
    wave = torch.from_numpy(np.ascontiguousarray(audio16k))
    spec = torch.stft(wave, n_fft=n_fft, hop_length=hop, win_length=400, window=torch.hann_window(400),
                      center=True, return_complex=True).abs().pow(2).T.numpy()  # (T, n_fft/2+1)
    return np.log(spec @ _mel_matrix(n_fft, n_mels, FEATURE_RATE) + 1e-6)


def _with_delta_normalised(feats: np.ndarray) -> np.ndarray:
    """(T, F) -> (T, 2F): the features and twice their time gradient, mean/variance normalised per utterance."""
    feats = np.concatenate([feats, 2.0 * np.gradient(feats, axis=0)], axis=1)
    return ((feats - feats.mean(0)) / (feats.std(0) + 1e-5)).astype(np.float32)


def mfcc_features(audio16k: np.ndarray) -> np.ndarray:
    """(n,) float32 at 16 kHz -> (T, 2 * (N_MFCC - 1)) normalised MFCC + delta, 10 ms hop."""
    logmel = _log_mel(audio16k, 40)  # (T, 40)
    return _with_delta_normalised(scipy.fft.dct(logmel, type=2, norm="ortho", axis=1)[:, 1:N_MFCC])  # (T, 24)


def coarse_features(audio16k: np.ndarray, n_bands: int = 8, smooth_frames: int = 3) -> np.ndarray:
    """(n,) float32 at 16 kHz -> (T, 2 * n_bands) normalised coarse log-mel + delta, 10 ms hop.

    What the null-model confidence compares: only the broad spectral envelope (8 bands,
    a 30 ms moving average), which separates silence, vowels, fricatives and nasals in
    any voice, and none of the formant detail that differs between speakers.
    """
    logmel = _log_mel(audio16k, n_bands)  # (T, n_bands)
    if smooth_frames > 1:
        logmel = scipy.ndimage.uniform_filter1d(logmel, smooth_frames, axis=0, mode="nearest")
    return _with_delta_normalised(logmel)


def pad_template(audio16k: np.ndarray, pad_s: float = 0.3, dither_db: float = -45.0) -> np.ndarray:
    """Add ``pad_s`` of silence at both ends plus faint noise, so real pauses have silence to match.

    espeak-ng's output starts within a few ms of its first phone and is
    digitally silent between words, while recordings have lead-in silence and
    a noise floor; without this the first phone absorbs the lead-in.
    """
    pad = np.zeros(int(pad_s * FEATURE_RATE), np.float32)
    x = np.concatenate([pad, audio16k.astype(np.float32), pad])
    rms = np.sqrt(np.mean(audio16k**2) + 1e-12)
    noise = np.random.default_rng(0).normal(size=x.shape).astype(np.float32)
    return x + noise * rms * 10 ** (dither_db / 20)


def speech_frames(audio16k: np.ndarray, floor_db: float = -35.0) -> int:
    """Number of 10 ms frames within ``floor_db`` of the loudest frame (voiced-ish duration)."""
    hop = int(HOP_S * FEATURE_RATE)
    n = len(audio16k) // hop
    if n == 0:
        return 0
    db = 10 * np.log10(np.mean(audio16k[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-10)
    return int(np.sum(db > np.percentile(db, 99) + floor_db))


def _row_costs(x: np.ndarray, y: np.ndarray, i: int, lo: int, hi: int) -> np.ndarray:
    d = y[lo:hi] - x[i]
    return np.sqrt(np.einsum("ij,ij->i", d, d))


def corridor_dtw(x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, float]:
    """DTW of x (N, F) to y (M, F) restricted to columns lo[i]..hi[i]-1 of each row i.

    lo/hi must be non-decreasing with lo[0] = 0, hi[-1] = M and overlapping
    consecutive ranges. Returns the path as (L, 2) int (i, j) pairs from (0, 0)
    to (N-1, M-1) and its mean local cost.
    """
    n = len(x)
    rows: list[np.ndarray] = []
    prev, plo, phi = None, 0, 0
    for i in range(n):
        a, b = int(lo[i]), int(hi[i])
        c = _row_costs(x, y, i, a, b)  # (b - a,)
        best_from_prev = np.full(b - a, np.inf)
        if prev is None:
            best_from_prev[0] = c[0]
        else:
            # vertical (i-1, j) and diagonal (i-1, j-1) predecessors
            js = np.arange(a, b)
            for shift in (0, 1):
                k = js - shift - plo
                ok = (k >= 0) & (k < phi - plo)
                best_from_prev[ok] = np.minimum(best_from_prev[ok], prev[k[ok]] + c[ok])
        # horizontal steps: D[j] = min_k<=j (A[k] + sum_{k<m<=j} c[m]) = S[j] + cummin(A - S)[j]
        s = np.cumsum(c)
        row = s + np.minimum.accumulate(best_from_prev - s)
        rows.append(row)
        prev, plo, phi = row, a, b
    path = [(n - 1, int(hi[-1]) - 1)]
    i, j = path[0]
    while (i, j) != (0, 0):
        cands = []
        for di, dj in ((1, 1), (1, 0), (0, 1)):
            pi, pj = i - di, j - dj
            if pi < 0 or pj < 0 or not lo[pi] <= pj < hi[pi]:
                continue
            cands.append((rows[pi][pj - lo[pi]], pi, pj))
        _, i, j = min(cands)
        path.append((i, j))
    path_arr = np.asarray(path[::-1])
    return path_arr, float(rows[-1][-1] / len(path_arr))


def multiscale_dtw(x: np.ndarray, y: np.ndarray, radius: int = 12) -> tuple[np.ndarray, float]:
    """Linear-memory DTW: coarse path at half resolution, refined in a corridor of ``radius``."""
    n, m = len(x), len(y)
    if n <= FULL_DTW_MAX or m <= FULL_DTW_MAX:
        return corridor_dtw(x, y, np.zeros(n, int), np.full(n, m))
    half = lambda z: 0.5 * (z[0: len(z) // 2 * 2: 2] + z[1: len(z) // 2 * 2: 2])  # noqa: E731
    coarse, _ = multiscale_dtw(half(x), half(y), radius)
    lo, hi = np.full(n, m), np.zeros(n, int)
    for ci, cj in coarse:
        for i in (2 * ci, 2 * ci + 1):
            lo[i] = min(lo[i], max(0, 2 * cj - radius))
            hi[i] = max(hi[i], min(m, 2 * cj + 2 + radius))
    for i in range(n - 2, n):  # rows beyond an odd-length coarse grid
        lo[i], hi[i] = min(lo[i], lo[n - 3] if n > 2 else 0), m
    lo[0], hi[-1] = 0, m
    lo = np.minimum.accumulate(lo[::-1])[::-1]
    hi = np.maximum.accumulate(hi)
    return corridor_dtw(x, y, lo, hi)


def warp_times(path: np.ndarray, template_times: np.ndarray) -> np.ndarray:
    """Map template times (s) to real-audio times (s) along a DTW path of (real, template) frames.

    A template frame maps to the first real frame the path pairs it with (a
    boundary is where the real audio starts matching the new phone); times
    between frame centres are interpolated.
    """
    real, tmpl = path[:, 0].astype(float), path[:, 1]
    order = np.unique(tmpl)
    first = np.searchsorted(tmpl, order, side="left")
    mid = real[first]
    return np.interp(np.asarray(template_times) / HOP_S, order, mid) * HOP_S


def shuffled_template(audio16k: np.ndarray, seed: int, chunk_s: float = NULL_CHUNK_S) -> np.ndarray:
    """The template's speech cut into ``chunk_s`` pieces in a seeded random order (the null model)."""
    n = max(int(chunk_s * FEATURE_RATE), 1)
    pieces = [audio16k[k: k + n] for k in range(0, len(audio16k), n)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pieces))
    if len(pieces) > 1 and (order == np.arange(len(pieces))).all():
        order = order[::-1]
    return np.concatenate([pieces[k] for k in order])


def null_margin(real: np.ndarray, tmpl16: np.ndarray, pad_s: float, radius: int = 12,
                n_null: int = N_NULL) -> tuple[float, float, list[float]]:
    """(margin, path cost, null costs) on :func:`coarse_features`: ``1 - cost / mean(null costs)``.

    ``real`` is the recording at 16 kHz, ``tmpl16`` the unpadded template audio; the template
    and each shuffled copy of it are padded with ``pad_s`` of silence and aligned to ``real``.
    """
    real_feats = coarse_features(real)
    cost = multiscale_dtw(real_feats, coarse_features(pad_template(tmpl16, pad_s)), radius=radius)[1]
    costs = []
    for seed in range(n_null):
        feats = coarse_features(pad_template(shuffled_template(tmpl16, seed), pad_s))
        costs.append(multiscale_dtw(real_feats, feats, radius=radius)[1])
    return float(1.0 - cost / max(float(np.mean(costs)), 1e-6)), cost, costs


def margin_confidence(margin: float) -> float:
    """The null-model margin mapped to [0, 1] (``margin / MARGIN_FULL``, clipped)."""
    return float(np.clip(margin / MARGIN_FULL, 0.0, 1.0))
