"""Arabic text handling: normalisation, shadda order, diacritisation, phone set, visemes."""

import unicodedata

import pytest

from data_prep.arabic.diacritize import diacritic_error_rate, diacritize
from data_prep.arabic.normalize import SHADDA, normalize_text, shadda_first, strip_diacritics, words_of
from data_prep.arabic.phoneset import ESPEAK_TO_IPA, PHONE_SET, espeak_to_ipa, phone_id
from data_prep.arabic.visemes import VISEME_CLASSES, viseme_of, viseme_table


@pytest.mark.parametrize("raw, expected", [
    ("كتــــاب", "كتاب"),                      # tatweel
    ("ﻛﺘﺎﺏ", "كتاب"),                          # presentation forms
    ("ٱلكتاب", "الكتاب"),                      # alef wasla
    ("كتاب ١٢٣ ۴۵", "كتاب 123 45"),            # Arabic-Indic and Persian digits
    ("نعم، لا؛ لماذا؟", "نعم, لا; لماذا?"),     # Arabic punctuation
    ("«قال» - هو", "قال هو"),                   # quotes and dashes become spaces
    ("کتاب یوم", "كتاب يوم"),                  # Persian kaf / yeh
    ("سأل  مسؤول\tقائم", "سأل مسؤول قائم"),    # hamza seats kept, spaces collapsed
])
def test_normalize_cases(raw, expected):
    assert normalize_text(raw) == expected


def test_fold_hamza_for_search_keys():
    assert normalize_text("أإآ مسؤول قائم على", fold_hamza=True) == "ااا مسوول قايم علي"


def test_shadda_first_reorders_canonical_order():
    canonical = unicodedata.normalize("NFC", "مُعَلِّم")  # NFC puts kasra before shadda
    assert canonical.index("\u0650") < canonical.index(SHADDA)
    fixed = shadda_first(canonical)
    assert fixed.index(SHADDA) < fixed.index("\u0650")
    assert strip_diacritics(fixed) == "معلم"
    assert normalize_text(canonical).index(SHADDA) < normalize_text(canonical).index("\u0650")


def test_words_of_drops_punctuation():
    assert words_of("قال, المعلم? نعم.") == ["قال", "المعلم", "نعم"]


def test_diacritic_error_rate_counts_letters():
    ref = "كَتَبَ"
    assert diacritic_error_rate(ref, ref) == 0.0
    assert diacritic_error_rate("كُتُبَ", ref) == pytest.approx(2 / 3)
    assert diacritic_error_rate("كَتَبُ", ref, ignore_last=True) == 0.0
    with pytest.raises(ValueError, match="base letters"):
        diacritic_error_rate("كَتَبَ", "كَتَمَ")


def test_text2tashkeel_diacritises_with_shadda_first():
    out = diacritize("قال المعلم إن الطلاب يحبون القراءة")
    assert strip_diacritics(out) == "قال المعلم إن الطلاب يحبون القراءة"
    assert diacritic_error_rate(out, normalize_text("قَالَ الْمُعَلِّمُ إِنَّ الطُّلَّابَ يُحِبُّونَ الْقِرَاءَةَ")) < 0.2
    for k, ch in enumerate(out):
        if ch == SHADDA:
            assert out[k - 1] not in "\u064e\u064f\u0650", f"vowel before shadda at {k} in {out}"


def test_phone_set_is_unique_and_maps_espeak_symbols():
    assert len(PHONE_SET) == len(set(PHONE_SET))
    assert set(ESPEAK_TO_IPA.values()) <= set(PHONE_SET)
    assert espeak_to_ipa("s̪") == "sˤ" and espeak_to_ipa("t̪") == "tˤ" and espeak_to_ipa("a.") == "a"
    assert espeak_to_ipa("ð", "a.") == "ðˤ" and espeak_to_ipa("ð", "a") == "ð"
    assert phone_id("bː") == PHONE_SET.index("bː")
    with pytest.raises(KeyError, match="ESPEAK_TO_IPA"):
        espeak_to_ipa("ʘ")


def test_viseme_table_covers_phone_set():
    table = viseme_table()
    assert len(table) == len(PHONE_SET)
    assert all(0 <= v < len(VISEME_CLASSES) for v in table)
    assert set(table) == set(range(len(VISEME_CLASSES)))  # every class used
    assert viseme_of("b") == viseme_of("m") == viseme_of("bː")
    assert viseme_of("a") == viseme_of("aː") != viseme_of("u")
    assert viseme_of("sˤ") == viseme_of("s")  # emphatics join their plain counterpart
    assert viseme_of("ħ") != viseme_of("h")    # pharyngeals have their own class
    assert viseme_of("") == -1
