"""How well a transcript's phones fit a recording, against null models: the built-in aligner's confidence.

A forced alignment of the transcript's phones to a recording's frame
posteriors (:mod:`data_prep.arabic.phonet_model`) scores the best left-to-right
path; the same phones in shuffled orders (same count, same phone mix, wrong
order) are aligned too, and so is a free loop over the same phones (any
order, any count: the most these phones can explain of the recording). Two
numbers come out::

    margin   = (log p(right order) - mean log p(shuffled orders)) / frames
    relative = (log p(right order) - mean log p(shuffled)) / (log p(free loop) - mean log p(shuffled))

A right transcript explains the recording far better than its own phones
shuffled, and nearly as well as the free loop; a wrong one hardly better than
shuffled. Because every path uses the same recording and the same phones,
neither needs per-voice calibration, but the per-frame margin still grows
with how clearly the phone model hears the voice (a clean studio or espeak-ng
voice lifts wrong transcripts too); the relative margin divides that out. The
confidence is the weaker of the two (:func:`posterior_confidence`): the
relative margin separates, the per-frame margin keeps audio the phone model
hears poorly (recitation, music) from passing on noise.

The path model is a plain HMM: each phone lasts at least :data:`MIN_FRAMES`
frames (twice that when long: ``aː``, geminates), may repeat its last state,
and an optional silence may stand before, between words and after. A phone's
emission is the log of the summed posteriors of the phonet phones it may sound
like (:data:`ARABIC_TO_PHONET`: Spanish has no pharyngeals or emphatics, so
those take their nearest Spanish neighbours; :data:`OTHER_TO_PHONET` does the
same for the phones English and the other espeak-ng languages add). The model
and the map live beside the Arabic code because Arabic came first; nothing in
them is Arabic-only.
"""

from __future__ import annotations

import numpy as np

from data_prep.arabic.phonet_model import HOP_S, PHONES
from data_prep.arabic.phoneset import LONG

# 40 ms at phonet's 10 ms hop (80 ms when long). Measured on 34 real recordings (README): the right/wrong
# separation on spoken Arabic rose from 2 frames (AUC 0.93) to 3 (0.95) and 4 (0.97), then fell (5: 0.92)
MIN_FRAMES = 4
# the values at which each part of the confidence reads 1.0: the pipeline's gate (phonemes.min_confidence = 0.35)
# sits at a relative margin of 0.20 and a per-frame margin of 0.10. Measured on real recordings (README): spoken
# Arabic 94% of right transcripts accepted, 3.3% of wrong ones; the per-frame floor holds recitation's wrong ones
# to 3.3% (12% without it). The per-frame margin alone gated at 0.20 until 2026-12-03 (94%, 7.1% wrong)
RELATIVE_FULL = 0.20 / 0.35
MARGIN_FULL = 0.10 / 0.35
N_NULL = 3
# a long recording's paths are kept within BAND_PHONES phones of where the DTW against the espeak-ng template put
# each frame, so the cost grows with the length, not its square. Only from BAND_MIN_FRAMES (60 s) on: every
# recording the gate was measured on is shorter and runs unbanded
BAND_PHONES = 40
BAND_MIN_FRAMES = 6000
SILENCE = ("sil", "<p:>")
# Arabic phone (PHONE_SET, without length) -> the phonet phones it may be heard as
ARABIC_TO_PHONET: dict[str, tuple[str, ...]] = {
    "b": ("b", "B"), "t": ("t",), "θ": ("T",), "dʒ": ("jj", "tS", "J"), "ħ": ("x",), "χ": ("x",),
    "d": ("d", "D"), "ð": ("D",), "r": ("r", "rr"), "z": ("z", "s"), "s": ("s",), "ʃ": ("S", "tS"),
    "sˤ": ("s",), "dˤ": ("d", "D"), "tˤ": ("t",), "ðˤ": ("D", "d"), "ʕ": ("a", "G"), "ɣ": ("G", "x"),
    "f": ("f", "F"), "q": ("k",), "k": ("k",), "l": ("l", "L"), "m": ("m",), "n": ("n", "N"), "h": ("x",),
    "w": ("w", "u"), "j": ("j", "i"), "ʔ": SILENCE, "a": ("a", "e", "o"), "i": ("i", "e"), "u": ("u", "o"),
}
# the phones other languages add (data_prep/phone_inventory.OTHER_PHONES, English first) -> phonet phones;
# a diphthong may be heard as either of its parts, r-coloured vowels as their vowel or an r
OTHER_TO_PHONET: dict[str, tuple[str, ...]] = {
    "p": ("p",), "ɡ": ("g", "G"), "g": ("g", "G"), "v": ("B", "b", "f"), "ŋ": ("N", "n"), "ɹ": ("r", "rr"),
    "tʃ": ("tS",), "ʒ": ("S", "jj"), "ɫ": ("l",), "ɾ": ("r",), "ʁ": ("G", "x", "rr"), "ç": ("x", "S"),
    "ɲ": ("J", "n"), "ʎ": ("L", "l"), "x": ("x",), "ts": ("t", "s"), "dz": ("d", "z"), "ʀ": ("rr", "G"),
    "ʋ": ("B", "w"), "β": ("B", "b"), "ɣ̞": ("G",), "ʝ": ("jj", "j"), "pf": ("p", "f"), "ɬ": ("l", "s"),
    "ʔ̞": SILENCE, "ɦ": ("x",), "ʍ": ("w",), "ɥ": ("w", "j"),
    "ɪ": ("i", "e"), "e": ("e",), "ɛ": ("e",), "eɪ": ("e", "i"), "ɪə": ("i", "e", "a"), "eə": ("e", "a"),
    "ɨ": ("i", "u"), "ɯ": ("u",), "ɘ": ("e",), "æ": ("a", "e"), "ʌ": ("a", "o"), "ɐ": ("a",),
    "ə": ("a", "e", "o"), "ɑ": ("a", "o"), "ɜ": ("e", "o", "a"), "aɪ": ("a", "i"), "aʊ": ("a", "o", "u"),
    "ɚ": ("e", "a", "r"), "ɝ": ("e", "r"), "ɒ": ("o", "a"), "ɔ": ("o",), "o": ("o",), "ʊ": ("u", "o"),
    "əʊ": ("o", "u", "e"), "oʊ": ("o", "u"), "ɔɪ": ("o", "i"), "ʊə": ("u", "o", "a"), "y": ("i", "u"),
    "ø": ("e", "o"), "œ": ("e", "o"), "ɵ": ("o", "e"), "ʏ": ("i", "u"),
}
PHONE_TO_PHONET: dict[str, tuple[str, ...]] = {**OTHER_TO_PHONET, **ARABIC_TO_PHONET}
_INDEX = {p: k for k, p in enumerate(PHONES)}
_NEG = -1e9


def _columns(phone: str) -> list[int]:
    base = phone[:-1] if phone.endswith(LONG) else phone
    try:
        return [_INDEX[p] for p in PHONE_TO_PHONET[base]]
    except KeyError:
        raise KeyError(f"phone {phone!r} has no entry in PHONE_TO_PHONET (data_prep/arabic/posterior_margin.py)") \
            from None


def covers(phones) -> bool:
    """Whether every phone (with or without its length mark) has phonet phones to be judged by."""
    return all((p[:-1] if p.endswith(LONG) else p) in PHONE_TO_PHONET for p in phones)


def _states(phones: list[tuple[str, int]]) -> tuple[list[tuple[int, ...]], np.ndarray, np.ndarray, np.ndarray]:
    """HMM states for (phone, word index) pairs: per state its posterior columns, a self-loop flag, and
    a skip flag (the state may also be entered from two states back, jumping an optional silence);
    and per phone its first state."""
    cols, loop, skip, firsts = [], [], [], []

    def add(columns: tuple[int, ...], n: int) -> None:
        for k in range(n):
            cols.append(columns)
            loop.append(k == n - 1)
            skip.append(False)

    silence = tuple(_INDEX[p] for p in SILENCE)
    add(silence, 1)
    previous_word = None
    for phone, word in phones:
        new_word = previous_word is not None and word != previous_word
        if new_word:
            add(silence, 1)
        firsts.append(len(cols))
        add(tuple(_columns(phone)), MIN_FRAMES * (2 if phone.endswith(LONG) else 1))
        skip[firsts[-1]] = new_word
        previous_word = word
    add(silence, 1)
    skip[1] = skip[-1] = True  # leading and trailing silence are optional too
    return cols, np.array(loop), np.array(skip), np.array(firsts)


def _band(firsts: np.ndarray, n_states: int, phone_at_frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame the first and last state a path may be in: BAND_PHONES phones either side of the
    frame's phone (with the silences around them); both never decrease."""
    n = len(firsts)
    low = np.clip(phone_at_frame - BAND_PHONES, 0, n - 1)
    high = phone_at_frame + BAND_PHONES + 1  # the first phone past the band
    lo = np.where(low == 0, 0, firsts[low] - 1)
    hi = np.where(high >= n, n_states - 1, firsts[np.minimum(high, n - 1)] - 1)
    return np.maximum.accumulate(lo), np.maximum.accumulate(hi)


def _emissions(posteriors: np.ndarray, classes: list[tuple[int, ...]]) -> np.ndarray:
    """(T, len(classes)) log of each class's summed posteriors."""
    floored = posteriors + 1e-8  # each phonet phone at least 1e-8, as the margins in the README were measured
    return np.stack([np.log(floored[:, list(c)].sum(axis=1) + 1e-8) for c in classes], axis=1)


def free_loop_logprob(posteriors: np.ndarray, phones: list[tuple[str, int]]) -> float:
    """Log-probability of the best path through any sequence of the transcript's phones.

    Each distinct phone keeps its minimum duration and silence may come anywhere, so this is the most
    that any order of these phones can explain: the ceiling of the right order and of its shuffles.
    Its state space is the distinct phones (a few dozen), so it is linear in the recording's length.
    """
    units = sorted({(tuple(_columns(p)), MIN_FRAMES * (2 if p.endswith(LONG) else 1)) for p, _ in phones})
    units.append((tuple(_INDEX[p] for p in SILENCE), 1))
    classes = sorted({c for c, _ in units})
    emit = _emissions(np.asarray(posteriors, np.float64), classes)
    state_class, first, last = [], [], []
    for columns, n in units:
        first.append(len(state_class))
        state_class += [classes.index(columns)] * n
        last.append(len(state_class) - 1)
    state_class, first, last = np.array(state_class), np.array(first), np.array(last)
    inner = np.setdiff1d(np.arange(len(state_class)), first)  # entered from the state before
    score = np.full(len(state_class), _NEG)
    score[first] = emit[0, state_class[first]]
    for t in range(1, len(emit)):
        entered = np.full(len(state_class), _NEG)
        entered[inner] = score[inner - 1]
        entered[first] = score[last].max()  # any phone (or silence) may follow any phone's end
        entered[last] = np.maximum(entered[last], score[last])  # or the last state repeats
        score = entered + emit[t, state_class]
    return float(score[last].max())


def best_path_logprob(posteriors: np.ndarray, phones: list[tuple[str, int]],
                      phone_at_frame: np.ndarray | None = None) -> float:
    """Log-probability of the best path of ``phones`` through (T, len(PHONES)) posteriors.

    Emissions are kept per phone class (a few dozen), not per state: a 16-minute source has some
    43,000 states and 97,000 frames, which a (states, frames) table would need 33 GB for. With
    ``phone_at_frame`` (T,) (non-decreasing phone indices), paths stay within :func:`_band` of it.
    """
    cols, loop, skip, firsts = _states(phones)
    n_frames = posteriors.shape[0]
    if len(cols) - 2 > n_frames:  # more phone frames than the recording has
        return float(_NEG)
    classes = sorted(set(cols))
    emit = _emissions(posteriors, classes)  # (T, U)
    class_index = {c: k for k, c in enumerate(classes)}
    state_class = np.array([class_index[c] for c in cols])
    n_states = len(cols)
    if phone_at_frame is None:
        lo, hi = np.zeros(n_frames, int), np.full(n_frames, n_states - 1)
    else:
        lo, hi = _band(firsts, n_states, np.asarray(phone_at_frame[:n_frames], int))
    score = np.full(n_states + 2, _NEG)  # two never-entered states in front: score[k + 2] is state k
    score[2:4] = emit[0, state_class[:2]]
    for t in range(1, n_frames):
        a, b = lo[t], hi[t] + 1
        prev = score[a: b + 2]  # states a-2 .. b-1 at t-1
        best = np.maximum(prev[1:-1], np.where(skip[a:b], prev[:-2], _NEG))  # from the state before, or 2 back
        best = np.maximum(best, np.where(loop[a:b], prev[2:], _NEG))  # or stay
        if a > lo[t - 1]:
            score[lo[t - 1] + 2: a + 2] = _NEG  # states the band has left
        score[a + 2: b + 2] = best + emit[t, state_class[a:b]]
    return float(max(score[-1], score[-2]))


def posterior_margin(posteriors: np.ndarray, phones: list[tuple[str, int]], n_null: int = N_NULL,
                     phone_starts: np.ndarray | None = None) -> tuple[float, float, list[float]]:
    """(margin, right order's log-prob, shuffled orders' log-probs) for (phone, word index) pairs.

    ``phone_starts`` (seconds, one per phone: where the DTW put them) bands the paths of recordings of
    :data:`BAND_MIN_FRAMES` frames or more; the shuffled orders get the same band by phone position.
    """
    if not phones:
        raise ValueError("posterior_margin: no phones")
    posteriors = np.asarray(posteriors, np.float64)
    at_frame = None
    if phone_starts is not None and len(posteriors) >= BAND_MIN_FRAMES:
        centres = (np.arange(len(posteriors)) + 0.5) * HOP_S
        at_frame = np.clip(np.searchsorted(np.asarray(phone_starts), centres, side="right") - 1, 0, len(phones) - 1)
        at_frame = np.maximum.accumulate(at_frame)
    right = best_path_logprob(posteriors, phones, at_frame)
    nulls = []
    for seed in range(n_null):
        order = np.random.default_rng(seed).permutation(len(phones))
        shuffled = [(phones[o][0], phones[k][1]) for k, o in enumerate(order)]
        nulls.append(best_path_logprob(posteriors, shuffled, at_frame))
    return float((right - np.mean(nulls)) / max(posteriors.shape[0], 1)), right, nulls


def relative_margin(posteriors: np.ndarray, phones: list[tuple[str, int]], right: float,
                    nulls: list[float]) -> float:
    """How much of what the free loop gains over the shuffled orders the right order gains (at most 1)."""
    shuffled = float(np.mean(nulls))
    ceiling = free_loop_logprob(posteriors, phones) - shuffled
    return float((right - shuffled) / ceiling) if ceiling > 1e-9 else 0.0


def posterior_confidence(margin: float, relative: float) -> float:
    """The weaker of the two margins, each mapped to [0, 1] (``/ MARGIN_FULL``, ``/ RELATIVE_FULL``, clipped)."""
    return float(np.clip(min(margin / MARGIN_FULL, relative / RELATIVE_FULL), 0.0, 1.0))
