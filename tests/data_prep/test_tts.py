"""data_prep.tts: the text-to-speech interface, MMS (a tiny random VITS, built here) and espeak-ng, by language.

No test touches the network: the MMS model is a tiny ``VitsModel`` with random weights and a ``VitsTokenizer``
with a small vocabulary saved to a temp folder, and the hub cache is pointed at an empty folder where a
test needs a default model to be missing.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from data_prep import tts as tts_mod
from data_prep.pretrained import PretrainedNotAvailable
from data_prep.tts import EspeakTTS, MmsTTS, TextToSpeech, TTSUnavailable, make_tts

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

LETTERS = list("abcdefghijklmnopqrstuvwxyz '")


def _save_tiny_vits(folder, sampling_rate=22050, is_uroman=False):
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, **{c: i + 1 for i, c in enumerate(LETTERS)}}
    vocab["<unk>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = VitsTokenizer(str(folder / "vocab.json"), add_blank=True, normalize=True, phonemize=False,
                              is_uroman=is_uroman)
    tokenizer.save_pretrained(str(folder))
    config = VitsConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        ffn_dim=16, flow_size=16, spectrogram_bins=9, upsample_initial_channel=16,
                        upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8], resblock_kernel_sizes=[3],
                        resblock_dilation_sizes=[[1, 3]], duration_predictor_filter_channels=16,
                        duration_predictor_num_flows=2, prior_encoder_num_flows=1,
                        prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1,
                        depth_separable_num_layers=1, sampling_rate=sampling_rate, layerdrop=0.0)
    torch.manual_seed(0)
    VitsModel(config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def tiny_vits(tmp_path_factory):
    return _save_tiny_vits(tmp_path_factory.mktemp("tiny_vits"))


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    """The hub cache is an empty folder, so a default MMS id is missing whatever this machine has cached."""
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True, raising=False)


def test_mms_output_is_int16_16k_with_the_resampled_model_length(tiny_vits):
    tts = make_tts("mms", lang="en", model=str(tiny_vits))
    assert isinstance(tts, MmsTTS) and isinstance(tts, TextToSpeech) and tts.sample_rate == 22050
    audio = tts.speak("Hello there")
    inputs = tts.tokenizer("hello there", return_tensors="pt")
    with torch.no_grad():
        torch.manual_seed(0)
        n_model = tts.model(**inputs).waveform.shape[-1]
    assert audio.dtype == np.int16 and audio.ndim == 1
    assert len(audio) == int(np.ceil(n_model * 16000 / 22050))  # resample_poly(up=320, down=441)
    assert np.array_equal(audio, tts.speak("Hello there"))  # seeded: repeatable


def test_mms_at_16k_is_not_resampled(tmp_path):
    tts = MmsTTS("en", model=str(_save_tiny_vits(tmp_path / "m16", sampling_rate=16000)))
    inputs = tts.tokenizer("abc", return_tensors="pt")
    with torch.no_grad():
        torch.manual_seed(0)
        n_model = tts.model(**inputs).waveform.shape[-1]
    assert len(tts.speak("abc")) == n_model


def test_empty_or_unspeakable_text_is_a_value_error(tiny_vits):
    tts = make_tts("mms", lang="en", model=str(tiny_vits))
    for text in ("", "   "):
        with pytest.raises(ValueError, match="empty"):
            tts.speak(text)
    with pytest.raises(ValueError, match="nothing left to speak"):
        tts.speak("123 !!")  # no character in the tiny vocabulary
    with pytest.raises(ValueError, match="empty"):
        EspeakTTS("en").speak("")


def test_lang_routing_picks_the_default_hub_id(monkeypatch):
    asked = []

    def fake_resolve(name, setting, files=None):
        asked.append(name)
        raise PretrainedNotAvailable(f"{setting}={name!r}: not cached")

    monkeypatch.setattr(tts_mod, "resolve_pretrained", fake_resolve)
    for lang in ("ar", "en"):
        with pytest.raises(PretrainedNotAvailable):
            make_tts("mms", lang=lang)
    assert asked == ["facebook/mms-tts-ara", "facebook/mms-tts-eng"]
    assert EspeakTTS("en").voice == "en" and EspeakTTS("ar").voice == "ar" and not EspeakTTS("en").diacritise
    with pytest.raises(ValueError, match="lang="):
        make_tts("espeak", lang="fr")
    with pytest.raises(ValueError, match="backend"):
        make_tts("festival", lang="en")


def test_mms_offline_missing_model_is_a_clear_error(empty_hub_cache):
    with pytest.raises(PretrainedNotAvailable, match="huggingface-cli download facebook/mms-tts-eng"):
        make_tts("mms", lang="en")


def test_auto_falls_back_to_espeak_offline_with_a_log(empty_hub_cache, caplog):
    with caplog.at_level(logging.WARNING, logger="data_prep.tts"):
        tts = make_tts("auto", lang="en")
    assert isinstance(tts, EspeakTTS) and tts.voice == "en"
    fallback = [r for r in caplog.records if "espeak-ng instead" in r.getMessage()]
    assert len(fallback) == 1 and "facebook/mms-tts-eng" in fallback[0].getMessage()


def test_auto_uses_mms_when_it_resolves(tiny_vits):
    assert isinstance(make_tts("auto", lang="en", model=str(tiny_vits)), MmsTTS)


def test_arabic_mms_needs_uroman_and_says_so(tmp_path, monkeypatch):
    folder = _save_tiny_vits(tmp_path / "ara", is_uroman=True)
    monkeypatch.setattr(tts_mod, "_uroman_available", lambda: False)
    with pytest.raises(TTSUnavailable, match="pip install uroman"):
        make_tts("mms", lang="ar", model=str(folder))
    assert isinstance(make_tts("auto", lang="ar", model=str(folder)), EspeakTTS)
    monkeypatch.setattr(tts_mod, "_uroman_available", lambda: True)
    tts = make_tts("mms", lang="ar", model=str(folder))
    assert tts.prepare("مَرْحَبًا  بِكُمْ") == "مَرْحَبًا بِكُمْ"  # Arabic normalisation before the tokenizer


def test_english_through_espeak():  # setup.sh installs espeak-ng: an error here is a failure
    audio = make_tts("espeak", lang="en").speak("Hello, this is a test.")
    assert audio.dtype == np.int16 and 0.5 < len(audio) / 16000 < 4 and np.abs(audio).max() > 1000


def test_speak_arabic_goes_through_the_espeak_backend(monkeypatch):
    from data_prep import media

    spoken = []
    original = EspeakTTS.speak

    def spy(self, text):
        spoken.append((self.voice, self.diacritise))
        return original(self, text)

    monkeypatch.setattr(EspeakTTS, "speak", spy)
    audio = media.speak_arabic("مرحبا", voice="ar", diacritise=False)
    assert spoken == [("ar", False)] and audio.dtype == np.int16 and len(audio) > 1600


def test_espeak_speech_does_not_depend_on_what_was_spoken_before(monkeypatch):
    """The same text and voice give the same samples and events after other utterances (issue 29).

    In one libespeak-ng process the third utterance below came out 5 samples longer than the first; each
    utterance now runs in a fresh process. The per-process cache is switched off so every call speaks.
    """
    from data_prep import espeak

    monkeypatch.setattr(espeak, "_CACHE_SIZE", 0)
    espeak._cache.clear()
    text = "مَرْحَبًا بِكُمْ فِي الدَّرْسِ"
    first = espeak.synthesize(text, voice="ar")
    espeak.synthesize("Hello there, how are you today?", voice="en")
    espeak.synthesize("ثُمَّ نَبْدَأُ", voice="ar+f3", rate=190)
    again = espeak.synthesize(text, voice="ar")
    assert not espeak._cache
    assert len(first.audio) > 16000 and np.array_equal(first.audio, again.audio)
    assert first.phonemes == again.phonemes and first.words == again.words


def test_espeak_errors_name_the_voice():
    from data_prep.espeak import EspeakUnavailable, synthesize

    with pytest.raises(EspeakUnavailable, match="no voice named 'xx-none'"):
        synthesize("hello", voice="xx-none")
