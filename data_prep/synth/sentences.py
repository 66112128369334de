"""Short Modern Standard Arabic sentences for the synthetic talking faces.

espeak-ng needs diacritised text to pick the right vowels, and it wants the
shadda *before* the short vowel on the same letter. Unicode canonical order
(NFC) puts it after, and so does most typed text, so :func:`espeak_order`
moves every shadda in front of its vowel. The manifest carries the *bare*
text (:func:`bare_text`, diacritics stripped with pyarabic) because the real
pipeline's aligner must cope with undiacritised transcripts; the diacritised
form stays in the ground-truth JSON.
"""

from __future__ import annotations

import re

from pyarabic import araby

# Fully diacritised sentences, a mix of statements, questions and sayings, with
# bilabials (m b), labiodentals (f), rounded (u w) and open (a) vowels throughout.
SENTENCES: tuple[str, ...] = (
    "ذَهَبَ الوَلَدُ إِلَى المَدْرَسَةِ صَبَاحًا.",
    "كَتَبَ الطَّالِبُ الدَّرْسَ فِي الدَّفْتَرِ.",
    "الشَّمْسُ مُشْرِقَةٌ اليَوْمَ.",
    "شَرِبْتُ كُوبًا مِنَ الحَلِيبِ.",
    "يُحِبُّ مُحَمَّدٌ قِرَاءَةَ الكُتُبِ.",
    "فَتَحَتِ البِنْتُ النَّافِذَةَ.",
    "السَّمَاءُ صَافِيَةٌ وَالجَوُّ جَمِيلٌ.",
    "أَيْنَ تَسْكُنُ يَا صَدِيقِي؟",
    "نَحْنُ نَدْرُسُ اللُّغَةَ العَرَبِيَّةَ.",
    "وَصَلَ القِطَارُ إِلَى المَحَطَّةِ.",
    "أَكَلْنَا الخُبْزَ وَالجُبْنَ.",
    "هَذَا بَيْتٌ كَبِيرٌ وَجَمِيلٌ.",
    "المُعَلِّمُ يَشْرَحُ الدَّرْسَ بِوُضُوحٍ.",
    "سَافَرَ أَبِي إِلَى القَاهِرَةِ.",
    "البَحْرُ وَاسِعٌ وَعَمِيقٌ.",
    "لَعِبَ الأَطْفَالُ فِي الحَدِيقَةِ.",
    "أُمِّي تَطْبُخُ طَعَامًا لَذِيذًا.",
    "الكِتَابُ عَلَى الطَّاوِلَةِ.",
    "يَنَامُ القِطُّ تَحْتَ الشَّجَرَةِ.",
    "زُرْنَا المَتْحَفَ يَوْمَ الجُمُعَةِ.",
    "الوَقْتُ مِنْ ذَهَبٍ.",
    "العِلْمُ نُورٌ وَالجَهْلُ ظَلَامٌ.",
    "رَكِبَ الرَّجُلُ سَيَّارَتَهُ الجَدِيدَةَ.",
    "تَمْشِي البَقَرَةُ فِي المَرْعَى.",
    "أُرِيدُ فِنْجَانًا مِنَ القَهْوَةِ.",
    "المَطَرُ يَنْزِلُ بِغَزَارَةٍ.",
    "قَرَأْتُ قِصَّةً مُمْتِعَةً.",
    "هَلْ تَتَكَلَّمُ العَرَبِيَّةَ؟",
    "يَعْمَلُ أَخِي فِي المُسْتَشْفَى.",
    "الوَرْدُ أَحْمَرُ وَالسَّمَاءُ زَرْقَاءُ.",
    "سَمِعْنَا صَوْتَ المُؤَذِّنِ.",
    "الصَّبْرُ مِفْتَاحُ الفَرَجِ.",
    "بَنَى العُمَّالُ جِسْرًا طَوِيلًا.",
    "تَطِيرُ الطُّيُورُ فَوْقَ النَّهْرِ.",
    "فِي الصَّيْفِ يَكُونُ الجَوُّ حَارًّا.",
    "شُكْرًا جَزِيلًا عَلَى مُسَاعَدَتِكَ.",
    "مَرْحَبًا بِكُمْ فِي بَلَدِنَا.",
    "الحَيَاةُ جَمِيلَةٌ.",
    "اشْتَرَيْتُ قَمِيصًا أَبْيَضَ.",
    "يَجْلِسُ الجَدُّ بِجَانِبِ المِدْفَأَةِ.",
    "كَانَ الطَّرِيقُ طَوِيلًا وَمُتْعِبًا.",
    "تَعَلَّمْتُ السِّبَاحَةَ فِي الصَّيْفِ.",
    "نَظَّفَتْ فَاطِمَةُ غُرْفَتَهَا.",
    "الفَلَّاحُ يَزْرَعُ القَمْحَ.",
    "غَابَتِ الشَّمْسُ وَجَاءَ اللَّيْلُ.",
    "هَذِهِ مَدِينَةٌ قَدِيمَةٌ.",
    "يَلْعَبُ الفَرِيقُ مُبَارَاةً مُهِمَّةً.",
    "كَتَبْتُ رِسَالَةً إِلَى صَدِيقِي.",
    "الجَبَلُ عَالٍ وَالوَادِي عَمِيقٌ.",
    "يُسَاعِدُ الطَّبِيبُ المَرْضَى.",
    "مَتَى تَبْدَأُ المُحَاضَرَةُ؟",
    "الأُمُّ تُحِبُّ أَطْفَالَهَا.",
    "وَجَدْتُ مِفْتَاحِي تَحْتَ الكُرْسِيِّ.",
    "نَسْتَيْقِظُ مُبَكِّرًا كُلَّ يَوْمٍ.",
    "الصَّدِيقُ وَقْتَ الضِّيقِ.",
    "رَسَمَ الفَنَّانُ لَوْحَةً رَائِعَةً.",
    "تَجْرِي الخُيُولُ فِي الصَّحْرَاءِ.",
    "أَغْلِقِ البَابَ مِنْ فَضْلِكَ.",
    "يَبِيعُ التَّاجِرُ الفَوَاكِهَ فِي السُّوقِ.",
    "السَّلَامُ عَلَيْكُمْ وَرَحْمَةُ اللهِ.",
    "الكَلْبُ يَحْرُسُ البَيْتَ.",
    "مَاذَا تَفْعَلُ فِي المَسَاءِ؟",
)

# A short vowel or tanween (U+064B..U+0650) or sukun (U+0652) followed by shadda (U+0651).
_VOWEL_THEN_SHADDA = re.compile("([\u064b-\u0650\u0652])\u0651")


def espeak_order(text: str) -> str:
    """Put every shadda before the short vowel that shares its letter (espeak-ng's order)."""
    return _VOWEL_THEN_SHADDA.sub("\u0651\\1", text)


def bare_text(text: str) -> str:
    """The undiacritised form: harakat, tanween, shadda, sukun and dagger alif removed."""
    return araby.strip_diacritics(text)


def sentence(index: int) -> tuple[str, str]:
    """(diacritised in espeak order, bare) for sentence ``index`` modulo the list length."""
    text = SENTENCES[index % len(SENTENCES)]
    return espeak_order(text), bare_text(text)
