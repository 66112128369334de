"""The built-in aligner's confidence gate on posteriors whose margins are known in closed form.

The gate (``data_prep.phonemes.DEFAULT_MIN_CONFIDENCE`` = 0.35) was measured on real recordings as a
relative margin of 0.20 and a per-frame margin of 0.10 (README, "Measured on real speech"). These tests
build phonet posteriors by hand so that every best path is a count of frames, derive both margins on
paper, and check the confidence at, just above and just below the gate through each of its two terms:
normalising the margin another way (per phone instead of per frame) or moving either divisor fails them.

The recording: three phones t, m, s (each one phonet column) heard in segments of N frames, then a
fourth segment of M frames heard as t again. A frame heard as phone p gives p the posterior q and each
other phone (1 - q) / 2, so any path scores ``T * log w + matched * D`` with ``w = (1 - q) / 2``,
``D = log q - log w`` and ``matched`` the frames whose state is the phone heard there (silence has no
posterior and never helps). Counting matched frames, the transcript t m s (one word):

* right order: t, m, s over the first three segments; s runs on over the fourth: 3N;
* free loop (any order of these phones): every frame, 3N + M;
* shuffled orders: posterior_margin's three seeded shuffles of 3 phones are (s, t, m), the right order
  itself and (s, t, m) again (asserted below). (s, t, m) matches at best max(2N - 4, N + M - 4, N + M - 8):
  s over the first three segments (matching the third), t over the fourth less 4 frames, m the last 4.
"""

import math

import numpy as np
import pytest

from data_prep.arabic.phonet_model import PHONES
from data_prep.arabic.posterior_margin import posterior_confidence, posterior_margin, relative_margin
from data_prep.phonemes import DEFAULT_MIN_CONFIDENCE

GATE = DEFAULT_MIN_CONFIDENCE
TRANSCRIPT = [("t", 0), ("m", 0), ("s", 0)]


def _posteriors(n: int, m: int, q: float) -> np.ndarray:
    """(3n + m, len(PHONES)): segments heard as t, m, s (n frames each), then t again (m frames)."""
    heard = ["t"] * n + ["m"] * n + ["s"] * n + ["t"] * m
    post = np.zeros((len(heard), len(PHONES)))
    for frame, phone in enumerate(heard):
        post[frame, [PHONES.index(p) for p in ("t", "m", "s")]] = (1 - q) / 2
        post[frame, PHONES.index(phone)] = q
    return post


def _expected(n: int, m: int, q: float) -> tuple[float, float]:
    """(per-frame margin, relative margin) of TRANSCRIPT on _posteriors(n, m, q), from the frame counts."""
    d = math.log(q) - math.log((1 - q) / 2)
    frames = 3 * n + m
    right, free, shuffled = 3 * n, 3 * n + m, max(2 * n - 4, n + m - 4, n + m - 8)
    mean_null = (2 * shuffled + right) / 3
    return (right - mean_null) * d / frames, (right - mean_null) / (free - mean_null)


def _confidence(n: int, m: int, q: float) -> tuple[float, float, float]:
    """(margin, relative, confidence) as the built-in aligner computes them, checked against _expected."""
    post = _posteriors(n, m, q)
    margin, right, nulls = posterior_margin(post, TRANSCRIPT)
    relative = relative_margin(post, TRANSCRIPT, right, nulls)
    d, frames = math.log(q) - math.log((1 - q) / 2), 3 * n + m
    # the null orders are part of the gate's scale: (s, t, m), the right order, (s, t, m)
    shuffled = frames * math.log((1 - q) / 2) + max(2 * n - 4, n + m - 4, n + m - 8) * d
    assert right == pytest.approx(frames * math.log((1 - q) / 2) + 3 * n * d, rel=1e-6)
    assert sorted(nulls) == pytest.approx(sorted([shuffled, right, shuffled]), rel=1e-6)
    want_margin, want_relative = _expected(n, m, q)
    assert margin == pytest.approx(want_margin, rel=1e-5)  # divided by the recording's frames
    assert relative == pytest.approx(want_relative, rel=1e-5)
    return margin, relative, posterior_confidence(margin, relative)


def test_the_gate_reads_a_relative_margin_of_0_20():
    """N = 20, M = 32: relative margin 24/120 = 0.20 exactly, per-frame margin 0.25 (not the binding term)."""
    margin, relative, confidence = _confidence(20, 32, 0.9)
    assert relative == pytest.approx(0.20, rel=1e-5) and margin > 0.2
    assert confidence == pytest.approx(GATE, rel=1e-5)


@pytest.mark.parametrize("m, relative, passes", [(31, 26 / 119, True), (33, 22 / 121, False)])
def test_the_relative_term_around_the_gate(m, relative, passes):
    """One frame more or less of the unexplained segment: relative 0.218 passes (0.38), 0.182 fails (0.32)."""
    margin, got, confidence = _confidence(20, m, 0.9)
    assert got == pytest.approx(relative, rel=1e-5) and margin / 0.10 > 2  # the per-frame floor is far off
    assert confidence == pytest.approx(relative / 0.20 * GATE, rel=1e-5)
    assert (confidence >= GATE) is passes


@pytest.mark.parametrize("margin, passes", [(0.10, None), (0.11, True), (0.09, False)])
def test_the_per_frame_floor_around_the_gate(margin, passes):
    """N = 20, M = 4: relative margin 48/60 = 0.8 (confidence 1 on its own), per-frame margin D / 4; D is
    chosen through q for a per-frame margin of 0.10 (the gate), 0.11 and 0.09."""
    d = 4 * margin
    q = math.exp(d) / (2 + math.exp(d))  # log q - log((1 - q) / 2) = d
    got, relative, confidence = _confidence(20, 4, q)
    assert relative == pytest.approx(0.8, rel=1e-5) and got == pytest.approx(margin, rel=1e-5)
    assert confidence == pytest.approx(margin / 0.10 * GATE, rel=1e-5)
    if passes is None:
        assert confidence == pytest.approx(GATE, rel=1e-5)
    else:
        assert (confidence >= GATE) is passes


def test_a_confidence_is_the_weaker_term_clipped_to_one():
    assert posterior_confidence(0.10, 0.20) == pytest.approx(GATE)
    assert posterior_confidence(0.10, 0.9) == pytest.approx(GATE)  # the floor binds
    assert posterior_confidence(0.9, 0.20) == pytest.approx(GATE)  # the relative margin binds
    assert posterior_confidence(0.5, 0.9) == 1.0 and posterior_confidence(-0.1, 0.5) == 0.0
