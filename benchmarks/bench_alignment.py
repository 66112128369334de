"""Benchmark the Arabic phonetics stack: boundary error of the aligners, DER of the diacritisers.

    .venv/bin/python benchmarks/bench_alignment.py            # full run: 24 sentences x 4 conditions, long sources
    .venv/bin/python benchmarks/bench_alignment.py --quick    # 6 sentences, 1 condition

Ground truth: held-out, hand-diacritised MSA sentences (below; never used to
set any aligner parameter -- those were chosen on the dev sentences in
tests/test_phonemes.py) are spoken by espeak-ng with voice variants, rates
and pitches the aligner's template never uses (template: voice "ar", pitch
50), with white noise added at a fixed SNR, resampled to 16 kHz int16. The
phone start times libespeak-ng reports for that speech are the truth.

The aligner gets the *bare* text (diacritics stripped) and must diacritise it
itself; predicted and true phone sequences are matched with difflib and the
error is |predicted start - true start| over matched phones. An "oracle" row
gives the aligner the true diacritised text, separating diacritiser errors
from alignment errors. Confidence on mismatched transcripts (another
sentence's text) shows how well the confidence separates failures.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import time

import numpy as np
from tqdm import tqdm

from data_prep.arabic.diacritize import diacritic_error_rate, diacritize
from data_prep.arabic.g2p import speak_phones
from data_prep.arabic.normalize import normalize_text, strip_diacritics
from data_prep.arabic.dtw_aligner import to_feature_rate
from data_prep.phonemes import AlignmentFailed, BuiltinAligner

HELD_OUT = [
    "ذَهَبَ الطَّالِبُ إِلَى الْمَكْتَبَةِ فِي الصَّبَاحِ.",
    "يَشْرَبُ الْأَطْفَالُ الْحَلِيبَ كُلَّ يَوْمٍ.",
    "كَتَبَ الْمُعَلِّمُ الدَّرْسَ عَلَى السَّبُّورَةِ.",
    "سَافَرَتْ أُمِّي إِلَى الْقَاهِرَةِ بِالطَّائِرَةِ.",
    "الْجَوُّ جَمِيلٌ الْيَوْمَ، وَالشَّمْسُ سَاطِعَةٌ.",
    "قَرَأْتُ كِتَابًا مُفِيدًا عَنْ تَارِيخِ الْعَرَبِ.",
    "يَعْمَلُ أَبِي طَبِيبًا فِي مُسْتَشْفًى كَبِيرٍ.",
    "نَحْنُ نُحِبُّ الْعِلْمَ وَنَحْتَرِمُ الْعُلَمَاءَ.",
    "فَتَحَ الْوَلَدُ النَّافِذَةَ لِيَدْخُلَ الْهَوَاءُ.",
    "اجْتَمَعَ الْوُزَرَاءُ لِمُنَاقَشَةِ الْمِيزَانِيَّةِ الْجَدِيدَةِ.",
    "زَرَعَ الْفَلَّاحُ الْقَمْحَ فِي حَقْلِهِ الْوَاسِعِ.",
    "تَعَلَّمَتْ سَارَةُ اللُّغَةَ الْعَرَبِيَّةَ فِي سَنَتَيْنِ.",
    "أَغْلَقَ الْحَارِسُ الْبَابَ بَعْدَ مُنْتَصَفِ اللَّيْلِ.",
    "ظَهَرَ الْقَمَرُ خَلْفَ الْغُيُومِ الْبَيْضَاءِ.",
    "صَعِدَ الرِّجَالُ إِلَى قِمَّةِ الْجَبَلِ الْعَالِي.",
    "يَلْعَبُ الْأَوْلَادُ كُرَةَ الْقَدَمِ فِي الْحَدِيقَةِ.",
    "هَلْ وَجَدْتَ الْمِفْتَاحَ الَّذِي ضَاعَ أَمْسِ؟",
    "إِنَّ الصِّدْقَ طَرِيقُ النَّجَاحِ فِي الْحَيَاةِ.",
    "اشْتَرَى التَّاجِرُ ثَلَاثَةَ أَثْوَابٍ مِنَ السُّوقِ.",
    "تَطِيرُ الطُّيُورُ فِي السَّمَاءِ الزَّرْقَاءِ.",
    "وَصَلَ الْقِطَارُ إِلَى الْمَحَطَّةِ مُتَأَخِّرًا.",
    "يَحْفَظُ الطُّلَّابُ الشِّعْرَ الْعَرَبِيَّ الْقَدِيمَ.",
    "خَرَجَ الصَّيَّادُ بِقَارِبِهِ إِلَى الْبَحْرِ.",
    "ضَحِكَ الطِّفْلُ عِنْدَمَا رَأَى الْقِطَّةَ الصَّغِيرَةَ.",
]
# (voice variant, words per minute, pitch, pitch range, SNR dB): none is the template's setting
CONDITIONS = [("ar+f3", 135, 70, 60, 25.0), ("ar+m3", 190, 35, 40, 20.0), ("ar+klatt", 155, 60, 70, 30.0),
              ("ar+f5", 210, 80, 30, 15.0)]


def real_speech(text: str, voice: str, rate: int, pitch: int, prange: int, snr_db: float, seed: int):
    """Speak ``text`` as the 'real' recording: (int16 16 kHz audio, true timed phones)."""
    spoken = speak_phones(text, voice=voice, rate=rate, pitch=pitch, pitch_range=prange)
    x = to_feature_rate(spoken.speech.audio, spoken.speech.sample_rate)  # (n,) float32 16 kHz
    x = np.concatenate([np.zeros(4000, np.float32), x, np.zeros(3000, np.float32)])  # extra silence
    noise = np.random.default_rng(seed).normal(size=x.shape).astype(np.float32)
    noise *= np.sqrt(np.mean(x**2) / 10 ** (snr_db / 10)) / noise.std()
    audio = np.clip((x + noise) * 32767, -32768, 32767).astype(np.int16)
    return audio, [(p.start + 0.25, p.phone) for p in spoken.phones]


def boundary_errors(truth: list[tuple[float, str]], phones) -> tuple[list[float], float]:
    """Start-time errors (ms) over label-matched phones, and the matched share of true phones."""
    pred = [(p.start, p.label) for p in phones]
    sm = difflib.SequenceMatcher(None, [t[1] for t in truth], [p[1] for p in pred], autojunk=False)
    errs = [abs(truth[a + k][0] - pred[b + k][0]) * 1000 for a, b, n in sm.get_matching_blocks() for k in range(n)]
    return errs, len(errs) / max(len(truth), 1)


def run(sentences: list[str], conditions, oracle: bool) -> dict:
    aligner = BuiltinAligner(min_confidence=0.0, diacritizer="none" if oracle else "text2tashkeel")
    errs, matched, confs, wrong_confs, secs, audio_s = [], [], [], [], 0.0, 0.0
    jobs = [(s, c) for s in sentences for c in conditions]
    for k, (sent, (voice, rate, pitch, prange, snr)) in enumerate(tqdm(jobs, desc=f"align oracle={oracle}")):
        audio, truth = real_speech(normalize_text(sent), voice, rate, pitch, prange, snr, seed=k)
        text = sent if oracle else strip_diacritics(sent)
        t0 = time.perf_counter()
        ali = aligner.align(audio, 16000, text)
        secs += time.perf_counter() - t0
        audio_s += len(audio) / 16000
        e, m = boundary_errors(truth, ali.phones)
        errs += e
        matched.append(m)
        confs.append(ali.confidence)
        other = sentences[(sentences.index(sent) + 1) % len(sentences)]
        try:
            wrong_confs.append(aligner.align(audio, 16000, other if oracle else strip_diacritics(other)).confidence)
        except AlignmentFailed:
            wrong_confs.append(0.0)
    errs = np.asarray(errs)
    return {"median_ms": float(np.median(errs)), "p90_ms": float(np.percentile(errs, 90)),
            "within_20ms": float(np.mean(errs <= 20)), "matched": float(np.mean(matched)),
            "conf_right": float(np.median(confs)), "conf_wrong": float(np.median(wrong_confs)),
            "conf_right_min": float(np.min(confs)), "conf_wrong_max": float(np.max(wrong_confs)),
            "wall_s_per_audio_min": 60 * secs / audio_s}


def der_table(sentences: list[str]) -> dict:
    out = {}
    for backend in ("text2tashkeel", "mishkal"):
        refs = [normalize_text(s) for s in sentences]
        preds = [diacritize(strip_diacritics(r), backend=backend) for r in refs]
        out[backend] = {
            "der": float(np.mean([diacritic_error_rate(p, r) for p, r in zip(preds, refs)])),
            "der_no_last": float(np.mean([diacritic_error_rate(p, r, ignore_last=True) for p, r in zip(preds, refs)]))}
    return out


def long_audio_timing(sentences: list[str], repeats: int = 1) -> dict:
    """Align one paragraph (~1 minute, ``repeats`` times over) in a single call: wall seconds, peak
    memory growth of this process, the median error and the confidence (a long source's confidence
    HMM is banded around the DTW timing: data_prep/arabic/posterior_margin.py)."""
    import resource

    text = " ".join(normalize_text(s) for s in sentences * repeats)
    audio, truth = real_speech(text, "ar+m3", 150, 40, 45, 25.0, seed=99)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    ali = BuiltinAligner(min_confidence=0.0).align(audio, 16000, strip_diacritics(text))
    errs, matched = boundary_errors(truth, ali.phones)
    return {"audio_s": len(audio) / 16000, "wall_s": time.perf_counter() - t0,
            "peak_rss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024,
            "median_ms": float(np.median(errs)), "matched": matched, "confidence": ali.confidence}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 sentences, 1 condition")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sentences = HELD_OUT[:6] if args.quick else HELD_OUT
    conditions = CONDITIONS[:1] if args.quick else CONDITIONS
    print("diacritic error rate (held-out):", der_table(sentences))
    results = {}
    for oracle in (False, True):
        results[oracle] = run(sentences, conditions, oracle)
        print(f"alignment oracle_diacritics={oracle}:", results[oracle])
    print("\n| transcript | median | p90 | within 20 ms | wall s per minute of audio (one process) |")
    print("|---|---|---|---|---|")
    for oracle, name in ((False, "bare text (text2tashkeel)"), (True, "oracle diacritics")):
        r = results[oracle]
        print(f"| {name} | {r['median_ms']:.0f} ms | {r['p90_ms']:.0f} ms | {100 * r['within_20ms']:.1f} % | "
              f"{r['wall_s_per_audio_min']:.1f} s |")
    if not args.quick:
        print("long audio:", long_audio_timing(sentences))
        print("long source (the paragraph 10 times):", long_audio_timing(sentences, repeats=10))


if __name__ == "__main__":
    main()
