"""phonet's phone model rebuilt in torch, the posterior margin, and the built-in aligner's choice between them."""

import importlib.util

import h5py
import numpy as np
import pytest
import torch

from data_prep.arabic import phonet_model
from data_prep.arabic.phonet_model import PHONES, PhonetPhoneModel, PhonetUnavailable, _keras_gru, weights_folder
from data_prep.arabic.posterior_margin import ARABIC_TO_PHONET, PHONE_TO_PHONET, covers
from data_prep.arabic.posterior_margin import (free_loop_logprob, posterior_confidence, posterior_margin,
                                              relative_margin)
from data_prep.arabic.phoneset import CONSONANTS, SHORT_VOWELS

HAVE_PHONET = importlib.util.find_spec("phonet") is not None


def _tiny_weights(folder, seed=0, units=4):
    """A random model in phonet's HDF5 layout (Keras 2 names), with its scaler files."""
    rng = np.random.default_rng(seed)
    with h5py.File(folder / "phonemes.hdf5", "w") as f:
        g = f.create_group("model_weights")

        def put(name, *shape):
            g.create_dataset(name + ":0", data=rng.normal(scale=0.3, size=shape).astype(np.float32))
        bn = "batch_normalization_1/batch_normalization_1/"
        for p in ("beta", "gamma", "moving_mean"):
            put(bn + p, 34)
        g.create_dataset(bn + "moving_variance:0", data=np.ones(34, np.float32))
        for layer, n_in in ((1, 34), (2, 2 * units)):
            for d in ("forward", "backward"):
                p = f"bidirectional_{layer}/bidirectional_{layer}/{d}_gru_{layer}/"
                put(p + "kernel", n_in, 3 * units)
                put(p + "recurrent_kernel", units, 3 * units)
                put(p + "bias", 3 * units)
        put("time_distributed_1/time_distributed_1/kernel", 2 * units, 8)
        put("time_distributed_1/time_distributed_1/bias", 8)
        put("time_distributed_2/time_distributed_2/kernel", 8, len(PHONES))
        put("time_distributed_2/time_distributed_2/bias", len(PHONES))
    np.save(folder / "mu.npy", np.full((40, 34), -4.0))
    np.save(folder / "std.npy", np.ones((40, 34)))
    return folder


def test_keras_gru_matches_the_reset_before_matrix_equations():
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(1, 3, 2)), dtype=torch.float32)
    k = torch.tensor(rng.normal(size=(2, 3)), dtype=torch.float32)  # one unit: gates z, r, h
    rk = torch.tensor(rng.normal(size=(1, 3)), dtype=torch.float32)
    b = torch.tensor(rng.normal(size=3), dtype=torch.float32)
    got = _keras_gru(x, k, rk, b)[0, :, 0].numpy()
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h, want = 0.0, []
    for t in range(3):
        xw = x[0, t].numpy() @ k.numpy() + b.numpy()
        z = sig(xw[0] + h * rk[0, 0].item())
        r = sig(xw[1] + h * rk[0, 1].item())
        h = z * h + (1 - z) * np.tanh(xw[2] + (r * h) * rk[0, 2].item())
        want.append(h)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_tiny_random_model_gives_one_distribution_per_10ms_frame(tmp_path):
    model = PhonetPhoneModel(str(_tiny_weights(tmp_path)))
    audio = np.random.default_rng(0).normal(size=16000).astype(np.float32) * 0.1
    post = model.posteriors(audio)
    assert post.shape == (99, len(PHONES))  # phonet's frame count: samples // 160 - 1
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=1e-5)
    # 40-frame sequences are independent: changing the second second leaves the first sequence alone
    longer = model.posteriors(np.concatenate([audio, audio[::-1]]))
    np.testing.assert_allclose(longer[:40], post[:40], rtol=1e-4, atol=1e-6)


def test_missing_weights_say_what_to_install(tmp_path):
    with pytest.raises(PhonetUnavailable, match="phonemes.hdf5.*pip install --no-deps phonet"):
        weights_folder(str(tmp_path))


@pytest.mark.skipif(not HAVE_PHONET, reason="phonet's weights are not installed (./setup.sh installs them)")
def test_real_phonet_weights_hear_pataka():
    """phonet's own example recording, "pataka" said repeatedly: the rebuilt network must recognise it."""
    import soundfile as sf

    model = phonet_model.load_phone_model()
    audio, sr = sf.read(model.folder.parent / "audios" / "pataka.wav")
    assert sr == 16000
    best = [PHONES[k] for k in model.posteriors(audio).argmax(axis=1)]
    collapsed = " ".join(p for k, p in enumerate(best) if k == 0 or p != best[k - 1])
    frequent = {p for p in PHONES if best.count(p) >= 0.03 * len(best)}
    assert {"p", "t", "k", "a"} <= frequent <= {"p", "t", "k", "a", "x", "r", "sil", "<p:>"}, collapsed
    assert collapsed.count("k a p a") >= 3 and collapsed.count("t a k a") >= 2, collapsed


def _posteriors_for(phones, frames_each=6, sharp=0.9, seed=0):
    """Posteriors that 'hear' ``phones`` in order, with silence around and noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for phone in ["sil"] * 4 + [ARABIC_TO_PHONET[p.rstrip("ː")][0] for p, _ in phones] + ["sil"] * 4:
        for _ in range(frames_each):
            row = rng.dirichlet(np.ones(len(PHONES))) * (1 - sharp)
            row[PHONES.index(phone)] += sharp
            rows.append(row)
    return np.array(rows)


def test_margin_separates_the_right_phone_order_from_a_wrong_transcript():
    right = [("k", 0), ("a", 0), ("t", 0), ("a", 0), ("b", 0), ("a", 1), ("m", 1), ("uː", 1), ("s", 1)]
    wrong = [("f", 0), ("i", 0), ("l", 0), ("n", 1), ("u", 1), ("r", 1), ("dʒ", 1), ("i", 1), ("z", 1)]
    post = _posteriors_for(right)
    good, _, nulls = posterior_margin(post, right)
    bad, _, _ = posterior_margin(post, wrong)
    assert len(nulls) == 3 and good > 0.5 and good > bad + 0.5
    assert posterior_confidence(good, 1.0) == 1.0 and posterior_confidence(-0.1, 1.0) == 0.0
    # more phones than frames: no path, no margin, no crash
    assert posterior_margin(post[:5], right)[0] == 0.0


def test_long_recordings_are_banded_around_the_dtw_timing(monkeypatch):
    from data_prep.arabic import posterior_margin as pm

    rng = np.random.default_rng(3)
    letters = ["k", "a", "t", "i", "b", "u", "s", "m", "l", "n"]
    phones = [(letters[k], j // 3) for j, k in enumerate(rng.integers(len(letters), size=120))]
    post = _posteriors_for(phones, frames_each=6)  # 4 frames of silence, then 6 per phone
    starts = (4 + 6 * np.arange(len(phones))) * 0.010
    monkeypatch.setattr(pm, "BAND_MIN_FRAMES", 100)
    monkeypatch.setattr(pm, "BAND_PHONES", 8)
    free = posterior_margin(post, phones)
    banded = posterior_margin(post, phones, phone_starts=starts + rng.normal(scale=0.02, size=len(starts)))
    assert banded[1] == pytest.approx(free[1])  # the right order's best path lies inside the band
    assert all(b <= f + 1e-9 for b, f in zip(banded[2], free[2]))  # the shuffled ones may only lose
    # timing that is 20 phones late keeps the right order's path out: far worse than unbanded
    late = posterior_margin(post, phones, phone_starts=starts + 20 * 6 * 0.010)
    assert late[1] < free[1] - 50
    # shorter than BAND_MIN_FRAMES: never banded
    monkeypatch.setattr(pm, "BAND_MIN_FRAMES", len(post) + 1)
    assert posterior_margin(post, phones, phone_starts=starts + 1.2)[1] == pytest.approx(free[1])


def test_every_phone_of_every_language_has_a_phonet_neighbour():
    from data_prep.phone_inventory import ALL_PHONES

    assert set(CONSONANTS + SHORT_VOWELS) <= set(ARABIC_TO_PHONET)
    assert covers(ALL_PHONES)  # Arabic, English and the other espeak-ng phones, long ones too
    assert all(p in PHONES for alternatives in PHONE_TO_PHONET.values() for p in alternatives)
    assert not covers(["a", "ʘ"])  # a click is in no map: the aligner then falls back to the DTW margin


def test_builtin_aligner_records_which_model_judged_it(tmp_path):
    from data_prep.arabic.g2p import speak_phones
    from data_prep.arabic.normalize import normalize_text
    from data_prep.espeak_g2p import speak_phones_lang
    from data_prep.phonemes import BuiltinAligner

    text = "شَرِبَ الرَّجُلُ الْقَهْوَةَ ثُمَّ نَامَ."
    spoken = speak_phones(normalize_text(text))
    tiny = BuiltinAligner(min_confidence=0.0, diacritizer="none", posterior_model=str(_tiny_weights(tmp_path)))
    ali = tiny.align(spoken.speech.audio, spoken.speech.sample_rate, text)
    assert ali.meta["confidence_model"] == "phonet-posteriors" and len(ali.meta["null_scores"]) == 3
    dtw = BuiltinAligner(min_confidence=0.0, diacritizer="none", posterior_model=None)
    ali = dtw.align(spoken.speech.audio, spoken.speech.sample_rate, text)
    assert ali.meta["confidence_model"] == "coarse-dtw"
    english = "The cat sat on the mat."
    spoken_en = speak_phones_lang(english, "en")
    ali = tiny.align(spoken_en.speech.audio, spoken_en.speech.sample_rate, english, lang="en")
    assert ali.meta["confidence_model"] == "phonet-posteriors" and ali.meta["phone_set"] == "espeak-en"
    with pytest.raises(PhonetUnavailable):  # a folder named explicitly must hold the weights
        BuiltinAligner(diacritizer="none", posterior_model=str(tmp_path / "nowhere")).align(
            spoken.speech.audio, spoken.speech.sample_rate, text)


def test_default_model_missing_falls_back_to_the_dtw_margin(monkeypatch, caplog):
    from data_prep.arabic.g2p import speak_phones
    from data_prep.arabic.normalize import normalize_text
    from data_prep.phonemes import BuiltinAligner

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    phonet_model.load_phone_model.cache_clear()
    text = "مَرْحَبًا بِكُمْ."
    spoken = speak_phones(normalize_text(text))
    aligner = BuiltinAligner(min_confidence=0.0, diacritizer="none")
    ali = aligner.align(spoken.speech.audio, spoken.speech.sample_rate, text)
    phonet_model.load_phone_model.cache_clear()
    assert ali.meta["confidence_model"] == "coarse-dtw"
    assert "phonet package is not installed" in caplog.text


def test_the_free_loop_bounds_every_order_and_the_relative_margin_calibrates_clear_voices():
    """The free loop over a transcript's phones is the ceiling of its right and shuffled orders; the relative
    margin is near 1 for the right transcript and low for a wrong one however sharply the voice is heard,
    while the per-frame margin of the same wrong transcript grows with the sharpness."""
    from data_prep.arabic import posterior_margin as pm

    right = [("k", 0), ("a", 0), ("t", 0), ("a", 0), ("b", 0), ("a", 1), ("m", 1), ("uː", 1), ("s", 1),
             ("l", 2), ("i", 2), ("n", 2), ("a", 2)]
    wrong = [("k", 0), ("a", 0), ("t", 0), ("a", 0), ("b", 0), ("s", 1), ("i", 1), ("l", 1), ("u", 1), ("m", 2),
             ("i", 2), ("n", 2), ("uː", 2)]  # the same first word, then another sentence
    per_frame, relative = {}, {}
    for sharp in (0.5, 0.95):
        post = _posteriors_for(right, sharp=sharp)
        for name, phones in (("right", right), ("wrong", wrong)):
            margin, best, nulls = posterior_margin(post, phones)
            ceiling = free_loop_logprob(post, phones)
            assert ceiling >= best - 1e-9 and all(ceiling >= n - 1e-9 for n in nulls)
            per_frame[name, sharp] = margin
            relative[name, sharp] = relative_margin(post, phones, best, nulls)
        assert relative["right", sharp] > 0.9 and relative["wrong", sharp] < 0.5
        assert posterior_confidence(per_frame["right", sharp], relative["right", sharp]) == 1.0
    # a clearer voice lifts the wrong transcript's per-frame margin (0.5 -> 1.0 here), not its relative one
    assert per_frame["wrong", 0.95] > 1.5 * per_frame["wrong", 0.5] > 0
    assert abs(relative["wrong", 0.95] - relative["wrong", 0.5]) < 0.05
    assert pm.relative_margin(post[:5], right, *posterior_margin(post[:5], right)[1:]) == 0.0  # too short
