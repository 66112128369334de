"""The CTC aligner: the Viterbi path on known posteriors, a tiny random wav2vec2 end to end, auto's choice."""

import json

import numpy as np
import pytest

from data_prep.ctc_aligner import CtcAligner, ctc_viterbi, token_spans
from data_prep.phonemes import AlignmentFailed, BuiltinAligner, make_aligner

VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, **{c: 4 + k for k, c in enumerate("abdefhiklmnorstuwy'")}}


def _posteriors(path: list[int], vocab_size: int, peak: float = 0.9) -> np.ndarray:
    """(T, V) log-probs where frame t puts ``peak`` on token path[t] and spreads the rest evenly."""
    p = np.full((len(path), vocab_size), (1 - peak) / (vocab_size - 1))
    p[np.arange(len(path)), path] = peak
    return np.log(p)


def test_viterbi_recovers_a_known_path_exactly():
    a, b, blank = 1, 2, 0
    # targets a a b: the repeated a needs a blank between them
    frames = [blank, a, a, blank, a, b, b, blank, blank]
    tokens, score = ctc_viterbi(_posteriors(frames, 3), [a, a, b], blank)
    assert tokens.tolist() == [-1, 0, 0, -1, 1, 2, 2, -1, -1]
    assert token_spans(tokens, 3) == [(1, 3), (4, 5), (5, 7)]
    assert score == pytest.approx(9 * np.log(0.9))
    # a path that cannot fit: two identical tokens in two frames
    with pytest.raises(ValueError, match="at least 3"):
        ctc_viterbi(_posteriors([a, a], 3), [a, a], blank)


def test_viterbi_prefers_the_posteriors_over_a_uniform_spread():
    # the token sits late in the audio: the path must wait on blanks, not stretch the token
    frames = [0] * 10 + [1, 1] + [0] * 3
    tokens, _ = ctc_viterbi(_posteriors(frames, 4, peak=0.6), [1], 0)
    assert token_spans(tokens, 1) == [(10, 12)]


@pytest.fixture(scope="module")
def tiny_ctc(tmp_path_factory):
    """A 1-layer random Wav2Vec2ForCTC (320-sample frames like the real ones) saved with vocab and preprocessor."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    torch.manual_seed(0)
    config = Wav2Vec2Config(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=32, conv_dim=(8,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2),
                            conv_stride=(5, 2, 2, 2, 2, 2, 2), num_conv_pos_embeddings=16,
                            num_conv_pos_embedding_groups=2, pad_token_id=0, do_stable_layer_norm=True,
                            feat_extract_norm="layer")
    folder = tmp_path_factory.mktemp("tiny_ctc")
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(folder)
    (folder / "vocab.json").write_text(json.dumps(VOCAB))
    return folder


def _speech(seconds: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.normal(size=len(t)))


def test_tiny_model_aligns_words_in_order_with_unreadable_word_kept_unaligned(tiny_ctc):
    aligner = CtcAligner(str(tiny_ctc), min_confidence=0.0)
    assert aligner.stride == 320
    ali = aligner.align(_speech(), 16000, "Hello ☺☺ world, the boat", lang="en")
    assert ali.aligner == "ctc" and 0.0 < ali.confidence <= 1.0
    assert [w.label for w in ali.words] == ["Hello", "world", "the", "boat"]
    assert ali.meta["unaligned_words"] == ["☺☺"] and ali.meta["lang"] == "en"
    assert ali.meta["phone_set"] == "espeak-en"
    starts = [w.start for w in ali.words]
    assert starts == sorted(starts) and ali.words[-1].end <= 2.0 + 1e-9
    assert all(w.end > w.start for w in ali.words)
    # phones lie inside their word's span and carry viseme classes
    assert ali.phones and all(ali.words[0].start - 1e-9 <= p.start for p in ali.phones)
    phone_ids, viseme_ids = ali.frame_labels(50)
    assert (phone_ids >= 0).sum() > 10 and ((phone_ids >= 0) == (viseme_ids >= 0)).all()


def test_arabic_words_are_romanised_for_a_latin_vocabulary(tiny_ctc):
    aligner = CtcAligner(str(tiny_ctc), min_confidence=0.0)
    tokens = aligner.word_tokens("مرحبا", "ar", VOCAB)
    assert tokens and all(t >= 4 for t in tokens)  # uroman's letters, no special tokens
    ali = aligner.align(_speech(), 16000, "مرحبا بكم", lang="ar")
    assert [w.label for w in ali.words] == ["مرحبا", "بكم"] and ali.meta["phone_set"] == "ar-msa"


def test_word_times_follow_the_posterior_path_exactly(tiny_ctc, monkeypatch):
    aligner = CtcAligner(str(tiny_ctc), min_confidence=0.0)
    v = VOCAB
    # "bad" in frames 5-9, "tom" in frames 14-19 (20 ms frames)
    frames = [0] * 5 + [v["b"], v["b"], v["a"], v["d"], v["d"]] + [0] * 4 + [v["t"], v["o"], v["o"], v["o"],
                                                                              v["m"], v["m"]] + [0] * 5
    monkeypatch.setattr(aligner, "log_posteriors", lambda audio: _posteriors(frames, len(VOCAB)))
    ali = aligner.align(_speech(0.5), 16000, "bad tom", lang="en")
    assert [(w.label, round(w.start, 6), round(w.end, 6)) for w in ali.words] == [
        ("bad", 0.10, 0.20), ("tom", 0.28, 0.40)]
    assert ali.confidence == pytest.approx(1.0)
    # a transcript the posteriors do not say gets a low confidence and fails the gate
    strict = CtcAligner(str(tiny_ctc), min_confidence=0.5)
    monkeypatch.setattr(strict, "log_posteriors", lambda audio: _posteriors(frames, len(VOCAB)))
    with pytest.raises(AlignmentFailed) as err:
        strict.align(_speech(0.5), 16000, "kiss her", lang="en")
    assert err.value.reason == "low_confidence"


def test_auto_prefers_ctc_weights_and_falls_back_offline(tiny_ctc, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    chosen = make_aligner("auto", min_confidence=0.0, ctc_model=str(tiny_ctc), diacritizer="none")
    assert isinstance(chosen, CtcAligner)
    fallback = make_aligner("auto", ctc_model="nobody-h20/not-a-cached-model", diacritizer="none")
    assert isinstance(fallback, BuiltinAligner)
    assert isinstance(make_aligner("auto", ctc_model=None), BuiltinAligner)


def test_auto_fetches_the_ctc_model_by_hub_id_once_then_runs_from_the_cache_offline(tiny_ctc, tmp_path, monkeypatch):
    """``phonemes.ctc_model`` as a hub id: downloaded into the hub cache on first use, served from it offline.

    The hub is a local stand-in (tests/helpers/fake_hub.py) serving the tiny model under a made-up id, so
    this checks our hub-id path with the real ``huggingface_hub`` client, not the real MMS weights.
    """
    from huggingface_hub import constants

    from tests.helpers.fake_hub import serve_hub

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with serve_hub({"tiny-org/tiny-mms": tiny_ctc}) as (endpoint, requests):
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            endpoint + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        online = make_aligner("auto", min_confidence=0.0, ctc_model="tiny-org/tiny-mms", diacritizer="none")
        assert isinstance(online, CtcAligner) and online.model_name == "tiny-org/tiny-mms"
        assert any(r.endswith("vocab.json") for r in requests), requests
    assert (tmp_path / "hub" / "models--tiny-org--tiny-mms").is_dir()
    # the stand-in hub is gone: offline, the same id loads from the cache
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cached = make_aligner("auto", min_confidence=0.0, ctc_model="tiny-org/tiny-mms", diacritizer="none")
    assert isinstance(cached, CtcAligner)
    ali = cached.align(_speech(), 16000, "the boat", lang="en")
    assert ali.aligner == "ctc" and ali.meta["model"] == "tiny-org/tiny-mms"
    assert [w.label for w in ali.words] == ["the", "boat"]


def test_an_upper_case_vocabulary_spells_lower_case_words(tiny_ctc, tmp_path):
    """English wav2vec2 CTC models (facebook/wav2vec2-base-960h and kin) have an upper-case vocabulary."""
    import shutil

    upper = tmp_path / "upper"
    shutil.copytree(tiny_ctc, upper)
    upper_vocab = {(k if k.startswith("<") else k.upper()): v for k, v in VOCAB.items()}
    (upper / "vocab.json").write_text(json.dumps(upper_vocab))
    aligner = CtcAligner(str(upper), min_confidence=0.0)
    ali = aligner.align(_speech(), 16000, "The boat", lang="en")
    assert [w.label for w in ali.words] == ["The", "boat"] and not ali.meta["unaligned_words"]
    assert aligner.word_tokens("boat", "en", aligner._vocab("en")) == [VOCAB[c] for c in "boat"]
