"""Arabic as it is spoken in running speech: the article's hamzat al-wasl, geminates, Quranic spelling."""

import pytest

from data_prep.arabic.connected import spoken_spelling
from data_prep.arabic.diacritize import _keep_letters
from data_prep.arabic.g2p import speak_phones
from data_prep.arabic.normalize import normalize_text, strip_diacritics, words_of
from data_prep.arabic.phoneset import CONSONANTS, base_of


def _phones_by_word(text: str) -> list[list[str]]:
    spoken = speak_phones(normalize_text(text))
    words: dict[int, list[str]] = {}
    for p in spoken.phones:
        words.setdefault(p.word_index, []).append(p.phone)
    return [words[k] for k in sorted(words)]


@pytest.mark.parametrize("text, expected", [
    ("قَالَ الرَّجُلُ", "قَالَ رْرَجُلُ"),               # sun letter: lam assimilated, the sun letter doubled
    ("قَالَ الْوَلَدُ", "قَالَ لْوَلَدُ"),               # moon letter: only the alif goes
    ("قَالَ الَّذِي", "قَالَ لْلَذِي"),                 # the article's lam carries the shadda
    ("الرَّجُلُ قَالَ", "الرَّجُلُ قَالَ"),             # an utterance starts with its glottal stop
    ("قَالَ، الْوَلَدُ", "قَالَ، الْوَلَدُ"),           # ... so does a clause after a pause
    ("ذَهَبَ إِلَى الْبَيْتِ", "ذَهَبَ إِلَى لْبَيْتِ"),
    ("بِالتَّمْرِ", "بِتْتَمْرِ"),                       # after a proclitic the alif is silent everywhere
    ("ذَهَبَ الى", "ذَهَبَ الى"),                       # إلى written without hamza is not an article
    ("ذَهَبَ والدي", "ذَهَبَ والدي"),                   # an unmarked proclitic could be a root letter
    ("ذَٰلِكَ", "ذَالِكَ"),                            # dagger alif is long
    ("عَلَىٰ", "عَلَى"),                              # ... and already long on alif maqsura
])
def test_spoken_spelling(text, expected):
    assert spoken_spelling(text) == expected
    assert len(words_of(spoken_spelling(text))) == len(words_of(text))


def test_the_article_loses_its_glottal_stop_inside_an_utterance():
    first, second = _phones_by_word("قَالَ الدَّرْسُ")
    assert second[0] == "dː", second  # espeak-ng alone says ʔ a d dː
    assert "ʔ" not in second
    starts = _phones_by_word("الدَّرْسُ مُفِيدٌ")[0]
    assert starts[:3] == ["ʔ", "a", "dː"], starts


def test_a_geminate_is_one_phone():
    words = _phones_by_word("بِسْمِ اللَّهِ الرَّحْمَنِ الرَّحِيمِ رَبِّ")
    assert "rː" in words[2] and "r" not in words[2], words  # espeak-ng gives three r events here
    assert "bː" in words[4], words  # one long b event in espeak-ng's IPA
    for phones in words:
        for a, b in zip(phones, phones[1:]):
            assert not (base_of(a) in CONSONANTS and base_of(a) == base_of(b)), phones


def test_quranic_annotation_is_not_spoken():
    verse = "ذَٰلِكَ ٱلْكِتَٰبُ لَا رَيْبَ ۛ فِيهِ ۛ هُدًى لِّلْمُتَّقِينَ ۝٢ ٱلَّذِينَ يُؤْمِنُونَ بِٱلْغَيْبِ وَيُقِيمُونَ ٱلصَّلَوٰةَ ۚ"
    clean = normalize_text(verse)
    assert not any(0x06D6 <= ord(c) <= 0x06ED and c != "\u0670" for c in clean), clean
    assert normalize_text("لَمۡ") == "لَمْ"  # the Uthmani sukun is a sukun
    spoken = speak_phones(clean)
    assert len(spoken.words) == len(words_of(strip_diacritics(clean)))


def test_the_transcripts_own_marks_win_over_the_diacritiser():
    # what text2tashkeel returned for مَٰلِكِ يَوْمِ الدِّينِ: other case endings, no dagger alif
    model = "مَلِكَ يَوْمَ الدِّينَ"
    assert _keep_letters(model, "مَٰلِكِ يَوْمِ الدِّينِ", "text2tashkeel") == "مَٰلِكِ يَوْمِ الدِّينِ"
    # a partly marked transcript keeps its marks and takes the model's on the bare letters
    assert _keep_letters("شُكْرًا جَزِيلًا", "شكرًا جزيلا", "text2tashkeel") == "شُكْرًا جَزِيلًا"
    assert _keep_letters("كَتَبَ", "كتبُ", "text2tashkeel") == "كَتَبُ"
