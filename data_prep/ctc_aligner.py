"""Forced alignment with a multilingual CTC acoustic model (wav2vec2 / MMS style), any language.

The DTW aligner compares the recording with espeak-ng's voice; an acoustic
model trained on thousands of real speakers judges the recording itself. This
aligner runs a ``transformers`` CTC model (``AutoModelForCTC``: Wav2Vec2,
HuBERT, Data2Vec, ...) over the audio, and finds the best CTC path that spells
the transcript (Viterbi over the model's log-posteriors, :func:`ctc_viterbi`).

* Model: named by hub id or local folder under the hub-or-path rule
  (``data_prep.pretrained``); default ``MahmoudAshraf/mms-300m-1130-forced-aligner``,
  the MMS model that the ``ctc-forced-aligner`` project uses (1130 languages,
  vocabulary of romanised characters). Offline without a cached copy it raises
  ``PretrainedNotAvailable`` and ``make_aligner("auto")`` falls back to DTW.
* Tokens: a word whose characters are all in the model's vocabulary is spelled
  as it is (a character model of Arabic); otherwise it is romanised with
  ``uroman`` (as MMS was trained). A word with no token left (an emoji, a
  script the model lacks) is kept as an *unaligned* word, not a failure.
* Viterbi in numpy, not ``torchaudio.functional.forced_align``: torchaudio is
  not part of the CPU torch build here, and the recursion is 20 lines.
  Memory is frames x (2 tokens + 1) bytes for the back-pointers (a one-minute
  source of 800 characters: 2.4 MB).
* Times: CTC frames are ``inputs_to_logits_ratio`` samples apart (20 ms for
  wav2vec2); a token spans its first to last frame, a word its tokens. Phones
  come from the same G2P as the DTW aligner (espeak-ng), spread over each
  word's span in proportion to their template durations: CTC fixes the word
  boundaries, the G2P supplies the phone labels the viseme map needs.
* Confidence: the model's own null model, ``exp((log P(forced path) - log
  P(best free path)) / tokens)``: near 1 when the transcript is what the model
  hears, near 0 when it must force tokens it does not hear.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_CTC_MODEL = "MahmoudAshraf/mms-300m-1130-forced-aligner"
MODEL_FILES = ["*.json", "*.safetensors", "*.bin", "*.txt"]
ISO3 = {"ar": "ara", "en": "eng", "fr": "fra", "de": "deu", "es": "spa", "it": "ita", "pt": "por", "tr": "tur",
        "fa": "fas", "ur": "urd", "ru": "rus", "hi": "hin", "id": "ind", "ms": "msa", "nl": "nld"}


def ctc_viterbi(log_probs: np.ndarray, targets: list[int], blank: int) -> tuple[np.ndarray, float]:
    """Best CTC alignment of ``targets`` to ``log_probs`` (T, V).

    Returns (token index per frame (T,) int, -1 on blank frames; log-probability of the path).
    Raises ValueError when the path cannot fit (fewer frames than tokens plus repeats).
    """
    T, n = len(log_probs), len(targets)
    ext = np.full(2 * n + 1, blank, dtype=np.int64)  # blank, t0, blank, t1, ..., blank
    ext[1::2] = targets
    S = len(ext)
    skip = np.zeros(S, bool)  # may jump from s-2 (the previous token) straight to token s
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    needed = n + int(np.sum(ext[3::2] == ext[1:-2:2]))
    if T < needed:
        raise ValueError(f"{n} tokens need at least {needed} CTC frames, the audio has {T}")
    emit = log_probs[:, ext]  # (T, S)
    alpha = np.full(S, -np.inf)
    alpha[0] = emit[0, 0]
    if S > 1:
        alpha[1] = emit[0, 1]
    back = np.zeros((T, S), np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, T):
        from1 = np.concatenate([[-np.inf], alpha[:-1]])
        from2 = np.where(skip, np.concatenate([[-np.inf, -np.inf], alpha[:-2]]), -np.inf)
        cand = np.stack([alpha, from1, from2])  # (3, S)
        choice = np.argmax(cand, axis=0)  # ties keep the earlier state: deterministic
        back[t] = choice
        alpha = cand[choice, np.arange(S)] + emit[t]
    s = S - 1 if S == 1 or alpha[S - 1] >= alpha[S - 2] else S - 2
    score = float(alpha[s])
    states = np.empty(T, np.int64)
    for t in range(T - 1, -1, -1):
        states[t] = s
        s -= int(back[t, s])
    return np.where(states % 2 == 1, states // 2, -1), score


def token_spans(frame_tokens: np.ndarray, n_tokens: int) -> list[tuple[int, int]]:
    """(first frame, last frame + 1) of each token index 0..n_tokens-1 in a Viterbi result."""
    spans = []
    for k in range(n_tokens):
        frames = np.flatnonzero(frame_tokens == k)
        spans.append((int(frames[0]), int(frames[-1]) + 1))
    return spans


@functools.lru_cache(maxsize=1)
def _uroman():
    import uroman

    return uroman.Uroman()


class CtcAligner:
    """A CTC acoustic model + Viterbi forced alignment (see the module docstring)."""

    name = "ctc"

    def __init__(self, model: str = DEFAULT_CTC_MODEL, min_confidence: float = 0.5, device: str = "cpu",
                 window_s: float = 30.0, diacritizer: str = "text2tashkeel"):
        import torch
        from transformers import AutoModelForCTC

        from data_prep.pretrained import resolve_pretrained

        self.model_name = str(model)
        self.path = Path(resolve_pretrained(model, "phonemes.ctc_model", files=MODEL_FILES))
        self.model = AutoModelForCTC.from_pretrained(self.path).to(device).eval()
        self.device, self.window_s, self.min_confidence, self.diacritizer = device, window_s, min_confidence, diacritizer
        self.stride = int(getattr(self.model.config, "inputs_to_logits_ratio", 320))
        vocab_file = self.path / "vocab.json"
        if not vocab_file.is_file():
            raise FileNotFoundError(f"phonemes.ctc_model={self.model_name!r}: {vocab_file} is missing (the CTC "
                                    f"vocabulary, token -> id)")
        self._vocab_all = json.loads(vocab_file.read_text(encoding="utf-8"))
        self._normalise = self._feature_normaliser()
        self._torch = torch

    def _feature_normaliser(self):
        config = self.path / "preprocessor_config.json"
        normalise = json.loads(config.read_text()).get("do_normalize", True) if config.is_file() else True
        return (lambda x: (x - x.mean()) / np.sqrt(x.var() + 1e-7)) if normalise else (lambda x: x)

    def _vocab(self, lang: str) -> dict[str, int]:
        """The token -> id map for ``lang``, keys lower-cased (an English wav2vec2's vocabulary is upper case,
        words are matched lower case); MMS-1b-all style per-language vocabularies load their adapter."""
        if not all(isinstance(v, dict) for v in self._vocab_all.values()):
            return {k.lower(): v for k, v in self._vocab_all.items()}
        iso = ISO3.get(lang.split("-")[0], lang)
        if iso not in self._vocab_all:
            from data_prep.phonemes import AlignmentFailed

            raise AlignmentFailed("unsupported_language", f"{self.model_name} has no vocabulary for {iso!r}")
        if hasattr(self.model, "load_adapter"):
            self.model.load_adapter(iso)
        return {k.lower(): v for k, v in self._vocab_all[iso].items()}

    def log_posteriors(self, audio16k: np.ndarray) -> np.ndarray:
        """(T, V) float32 log-softmax of the model over 16 kHz audio, in windows of ``window_s`` with 1 s context."""
        torch = self._torch
        x = self._normalise(audio16k.astype(np.float32))
        win = max(int(self.window_s * 16000) // self.stride, 1) * self.stride
        ctx = 16000 // self.stride * self.stride
        n_frames = len(x) // self.stride
        out = []
        for a in range(0, len(x), win):
            lo, hi = max(0, a - ctx), min(len(x), a + win + ctx)
            with torch.inference_mode():
                logits = self.model(torch.from_numpy(np.ascontiguousarray(x[lo:hi]))[None].to(self.device)).logits[0]
            lp = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()  # (F, V)
            f0 = (a - lo) // self.stride
            want = min(win, len(x) - a) // self.stride
            chunk = lp[f0: f0 + want]
            if len(chunk) < want and len(lp):  # the last frames of a window: repeat the final one
                chunk = np.concatenate([chunk, np.repeat(lp[-1:], want - len(chunk), 0)])
            out.append(chunk)
        return np.concatenate(out)[:n_frames] if out else np.zeros((0, self.model.config.vocab_size), np.float32)

    def word_tokens(self, word: str, lang: str, vocab: dict[str, int]) -> list[int]:
        """Token ids spelling ``word``: its own characters when the vocabulary has them all, else uroman's."""
        lower = word.lower()
        if not all(c in vocab for c in lower):
            lower = _uroman().romanize_string(lower, lcode=ISO3.get(lang.split("-")[0])).lower()
        return [vocab[c] for c in lower if c in vocab]

    def align(self, audio: np.ndarray, sample_rate: int, text: str, lang: str = "ar"):
        from data_prep.arabic.dtw_aligner import to_feature_rate
        from data_prep.phone_inventory import phone_set_name
        from data_prep.phonemes import Alignment, AlignmentFailed, BuiltinAligner, Interval

        template = BuiltinAligner(diacritizer=self.diacritizer)
        marked, words, speak = template._text(text, lang)  # the same words and G2P as the DTW aligner
        audio16 = to_feature_rate(np.asarray(audio).reshape(-1), sample_rate)
        if len(audio16) < 0.1 * 16000 or np.abs(audio16).max() < 1e-3:
            raise AlignmentFailed("no_speech", f"audio of {len(audio16) / 16000:.2f} s has no speech")
        vocab = self._vocab(lang)
        blank = vocab.get("<blank>", vocab.get("<pad>", 0))
        per_word = [self.word_tokens(w, lang, vocab) for w in words]
        targets = [t for toks in per_word for t in toks]
        if not targets:
            raise AlignmentFailed("empty_transcript", f"no word of {text[:40]!r} is in {self.model_name}'s vocabulary")
        lp = self.log_posteriors(audio16)  # (T, V)
        try:
            frame_tokens, score = ctc_viterbi(lp, targets, blank)
        except ValueError as exc:
            raise AlignmentFailed("audio_too_short", str(exc)) from None
        free = float(lp.max(axis=1).sum())
        confidence = float(np.exp(min(score - free, 0.0) / len(targets)))
        if confidence < self.min_confidence:
            raise AlignmentFailed("low_confidence", f"confidence {confidence:.2f} < {self.min_confidence}")
        spans, step = token_spans(frame_tokens, len(targets)), self.stride / 16000
        word_iv, unaligned, k = [], [], 0
        for w, toks in zip(words, per_word):
            if toks:
                word_iv.append(Interval(spans[k][0] * step, spans[k + len(toks) - 1][1] * step, w))
            else:
                word_iv.append(None)
                unaligned.append(w)
            k += len(toks)
        phones = self._phones(speak(marked, 160), word_iv)
        return Alignment([w for w in word_iv if w is not None], phones, confidence, self.name,
                         {"model": self.model_name, "lang": lang, "phone_set": phone_set_name(lang),
                          "unaligned_words": unaligned, "log_prob": round(score, 3), "frame_s": step})

    @staticmethod
    def _phones(spoken, word_iv: list) -> list:
        """The G2P's phones of each aligned word, spread over its CTC span by their template durations."""
        from data_prep.phonemes import Interval

        out = []
        for s, e, w in spoken.words:
            if w >= len(word_iv) or word_iv[w] is None:
                continue
            mine = [p for p in spoken.phones if p.word_index == w]
            span, target = max(e - s, 1e-6), word_iv[w]
            scale = (target.end - target.start) / span
            out += [Interval(target.start + (p.start - s) * scale, target.start + (p.end - s) * scale, p.phone)
                    for p in mine]
        return out
