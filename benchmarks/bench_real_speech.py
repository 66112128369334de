"""Benchmark the aligners on recordings with transcripts: does the default gate keep right ones and stop wrong ones?

    # real recordings you have (nothing is downloaded): a JSON Lines manifest, one recording a line,
    #   {"audio": "a.wav", "text": "...", "lang": "ar", "textgrid": "a.TextGrid"?, "group": "gulf"?}
    # (paths relative to the manifest; "textgrid" holds reference word boundaries, tier "words")
    .venv/bin/python benchmarks/bench_real_speech.py --data DIR/manifest.jsonl
    .venv/bin/python benchmarks/bench_real_speech.py --data DIR/manifest.jsonl --aligners builtin ctc \
        --ctc-model MahmoudAshraf/mms-300m-1130-forced-aligner
    # the offline stand-in (no real speech on the build machine): espeak-ng voices the template never
    # uses, through a telephone band, a room and noise -- NOT real speech; say so wherever it is quoted
    .venv/bin/python benchmarks/bench_real_speech.py --standin [--quick]

    # the nine reference prompts of the Habibi TTS project (six people speaking Najdi, Hijazi, Gulf,
    # Emirati, Algerian and Iraqi Arabic from its benchmark, and three ElevenLabs library voices in
    # MSA, Egyptian and Moroccan Arabic), read from a checkout of github.com/SWivid/Habibi-TTS (MIT)
    .venv/bin/python benchmarks/bench_real_speech.py --habibi PATH/TO/Habibi-TTS

    # English: 11 recordings from the test data of github.com/cmusphinx/pocketsphinx (BSD-style licence;
    # five LibriVox readings with pocketsphinx's word boundaries, five card names, one command)
    .venv/bin/python benchmarks/bench_real_speech.py --pocketsphinx PATH/TO/pocketsphinx
    # --posterior-model none: judge with the coarse-DTW margin instead of phonet's posteriors
    # --min-phone-frames N: the confidence HMM's shortest phone in phonet frames of 10 ms (default 4 = 40 ms)

For each aligner and each recording, the recording is aligned with its own
transcript (right) and with every other recording's transcript of the same
language (wrong; ``--wrong next`` takes only the next one). Reported: the share
of right transcripts the default gate (``phonemes.min_confidence``) accepts,
the share of wrong ones it accepts, the confidences (and the built-in aligner's
per-frame and relative null-model margins) of both, how often a recording's own transcript scores
above every wrong one, the chance that a right transcript scores above a
wrong one (``auc_*``: over every (right, wrong) pair of the set, ties counted
half; of the confidence, the per-frame margin and the relative margin), the
same per group and for the recordings marked ``"human": false`` left out,
and the median / 90th-percentile word-start error
where a reference TextGrid exists. A gate is suggested as the midpoint between
the 5th percentile of right and the 95th of wrong confidences. Public sources
of real Arabic speech are listed in the README (section "Alignment on real
speech"); keep them out of the repo.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf
from tqdm import tqdm

from data_prep.phonemes import Alignment, AlignmentFailed, make_aligner
from data_prep.workflow.config import PhonemesConfig

sys.path.insert(0, str(Path(__file__).parent))
from bench_alignment import HELD_OUT  # noqa: E402  (the synthetic benchmark's held-out sentences)

# voices none of which the template ("ar", pitch 50) uses: female, low male, klatt, whisper, creaky
STANDIN_VOICES = [("ar+f3", 135, 70, 60, 25.0), ("ar+m3", 190, 35, 40, 12.0), ("ar+klatt", 155, 60, 70, 18.0),
                  ("ar+whisper", 150, 50, 50, 20.0), ("ar+croak", 170, 40, 80, 15.0)]


def degrade(x: np.ndarray, seed: int, snr_db: float) -> np.ndarray:
    """A room (exponential-decay impulse response), a 250-3400 Hz telephone band, noise and lead-in silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.25 * 16000)) / 16000
    rir = rng.normal(size=len(t)) * np.exp(-t / 0.06)
    rir[0] = 8.0
    x = scipy.signal.fftconvolve(x, rir / (np.abs(rir).sum() / 4))[: len(x)]
    b, a = scipy.signal.butter(2, [250 / 8000, 3400 / 8000], "band")
    x = scipy.signal.lfilter(b, a, x)
    noise = rng.normal(size=x.shape)
    x = x + noise * np.sqrt(np.mean(x**2) / 10 ** (snr_db / 10)) / noise.std()
    x = np.concatenate([np.zeros(4000), x, np.zeros(3000)]) + rng.normal(size=len(x) + 7000) * 1e-3
    return np.clip(x, -1, 1).astype(np.float32)


def make_standin(folder: Path, n_sentences: int, voices) -> Path:
    """Write the stand-in set (wav + reference word TextGrid + manifest.jsonl) under ``folder``."""
    from data_prep.arabic.dtw_aligner import to_feature_rate
    from data_prep.arabic.g2p import speak_phones
    from data_prep.arabic.normalize import normalize_text, strip_diacritics, words_of
    from data_prep.phonemes import Interval

    lines = []
    for vi, (voice, rate, pitch, prange, snr) in enumerate(voices):
        for si, sentence in enumerate(HELD_OUT[:n_sentences]):
            text = normalize_text(sentence)
            spoken = speak_phones(text, voice=voice, rate=rate, pitch=pitch, pitch_range=prange)
            audio = degrade(to_feature_rate(spoken.speech.audio, spoken.speech.sample_rate), 100 * vi + si, snr)
            bare = words_of(strip_diacritics(text))
            lead = 4000 / 16000
            ref = Alignment([Interval(s + lead, e + lead, bare[w]) for s, e, w in spoken.words], [], 1.0, "espeak")
            name = f"{voice.replace('+', '_')}_{si:02d}"
            sf.write(folder / f"{name}.wav", audio, 16000, subtype="PCM_16")
            (folder / f"{name}.TextGrid").write_text(ref.to_textgrid(len(audio) / 16000))
            lines.append({"audio": f"{name}.wav", "text": strip_diacritics(text), "lang": "ar",
                          "textgrid": f"{name}.TextGrid", "group": voice})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    return manifest


def word_start_errors(ref: Alignment, got: Alignment) -> list[float]:
    """|start error| in ms of each reference word matched (difflib, diacritics and spelling normalised) to an aligned one."""
    import difflib

    from data_prep.arabic.normalize import normalize_text, strip_diacritics

    def bare(words):
        return [strip_diacritics(normalize_text(w.label)) for w in words]

    blocks = difflib.SequenceMatcher(a=bare(ref.words), b=bare(got.words), autojunk=False).get_matching_blocks()
    return [abs(got.words[b.b + i].start - ref.words[b.a + i].start) * 1000 for b in blocks for i in range(b.size)]


def _try(aligner, audio, text, lang):
    try:
        return aligner.align(audio, 16000, text, lang=lang), ""
    except AlignmentFailed as failed:
        return None, failed.reason


def _load_16k(path: Path) -> np.ndarray:
    """16 kHz mono float audio: soundfile for what it reads (wav, flac, ogg, mp3: the figures in the README),
    ffmpeg for the rest (m4a, opus, webm, a video's sound track)."""
    from data_prep.arabic.dtw_aligner import to_feature_rate
    from data_prep.media import load_audio

    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except sf.LibsndfileError:
        return load_audio(path).astype(np.float32) / 32768.0
    return to_feature_rate(audio.mean(1), rate)


def _summary(right: np.ndarray, wrong: list[np.ndarray], gate: float) -> dict:
    """Acceptance at ``gate`` for right transcripts (one per recording) and wrong ones (a list per recording)."""
    flat = np.concatenate(wrong) if wrong else np.zeros(0)
    own_best = [r > w.max() for r, w in zip(right, wrong) if len(w)]
    return {"recordings": len(right), "wrong_pairs": len(flat),
            "right_accepted": float(np.mean(right >= gate)), "wrong_accepted": float(np.mean(flat >= gate)),
            "own_above_every_wrong": float(np.mean(own_best)) if own_best else None,
            "auc_confidence": auc(right, flat),
            "conf_right_p5_median": [float(np.percentile(right, 5)), float(np.median(right))],
            "conf_wrong_median_p95": [float(np.median(flat)), float(np.percentile(flat, 95))],
            "suggested_gate": float((np.percentile(right, 5) + np.percentile(flat, 95)) / 2)}


def auc(right, wrong) -> float | None:
    """The chance that a right transcript's score is above a wrong one's: the share of all (right, wrong)
    pairs in which it is, ties counted half (the Mann-Whitney AUC). NaN scores (no such score) are left out."""
    r, w = np.asarray(right, float), np.asarray(wrong, float)
    r, w = r[~np.isnan(r)], w[~np.isnan(w)]
    if not len(r) or not len(w):
        return None
    return float(((r[:, None] > w[None, :]).sum() + 0.5 * (r[:, None] == w[None, :]).sum()) / (len(r) * len(w)))


def _relative(ali: Alignment | None) -> float:
    """The built-in aligner's relative margin (NaN for another aligner, the coarse-DTW judge or a failure)."""
    value = ali.meta.get("relative_margin") if ali else None
    return np.nan if value is None else float(value)


def _rounded(value: float) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 3)


def _min_median(values: list[float]) -> list[float] | None:
    return None if not values or np.all(np.isnan(values)) else [float(np.nanmin(values)), float(np.nanmedian(values))]


def _median_max(values: list[float]) -> list[float] | None:
    return None if not values or np.all(np.isnan(values)) else [float(np.nanmedian(values)), float(np.nanmax(values))]


def evaluate(manifest: Path, aligner_kinds: list[str], gate: float, ctc_model: str | None,
             wrong: str = "all", posterior_model: str | None = PhonemesConfig.posterior_model) -> dict:
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    langs = [row.get("lang", "ar") for row in rows]
    others = []  # per recording: indices of the transcripts it is aligned with as wrong ones
    for k in range(len(rows)):
        # the same sentence read by another voice is no wrong transcript (the stand-in has several per sentence)
        ring = [j for j in list(range(k + 1, len(rows))) + list(range(k))
                if langs[j] == langs[k] and rows[j]["text"] != rows[k]["text"]]
        others.append(ring if wrong == "all" else ring[:1])
    report = {}
    for kind in aligner_kinds:
        options = {"ctc_model": ctc_model} if kind == "ctc" and ctc_model else {}
        if kind == "builtin":
            options["posterior_model"] = posterior_model
        aligner = make_aligner(kind, min_confidence=0.0, **options)
        right, wrongs, margins_r, margins_w, rel_r, rel_w, errs, failed = [], [], [], [], [], [], [], []
        for k, row in enumerate(tqdm(rows, desc=kind)):
            audio = _load_16k(manifest.parent / row["audio"])
            ali, reason = _try(aligner, audio, row["text"], langs[k])
            right.append(ali.confidence if ali else 0.0)
            margins_r.append(ali.meta.get("margin", np.nan) if ali else np.nan)
            rel_r.append(_relative(ali))
            if ali is None:
                failed.append(f"{row['audio']}: {reason}")
            elif row.get("textgrid"):
                errs += word_start_errors(_words_only(manifest.parent / row["textgrid"]), ali)
            row_wrong, row_margins, row_rel = [], [], []
            for j in others[k]:
                bad, _ = _try(aligner, audio, rows[j]["text"], langs[k])
                row_wrong.append(bad.confidence if bad else 0.0)
                row_margins.append(bad.meta.get("margin", np.nan) if bad else np.nan)
                row_rel.append(_relative(bad))
            wrongs.append(np.asarray(row_wrong))
            margins_w.append(row_margins)
            rel_w.append(row_rel)

        def summary(idx: list[int]) -> dict:
            out = _summary(right[idx], [wrongs[i] for i in idx], gate)
            for name, r, w in (("margin", margins_r, margins_w), ("relative", rel_r, rel_w)):
                out[f"auc_{name}"] = auc([r[i] for i in idx], [x for i in idx for x in w[i]])
            return out

        right = np.asarray(right)
        result = summary(list(range(len(rows))))
        result.update({
            "gate": gate,
            "margin_right_min_median": _min_median(margins_r),
            "margin_wrong_median_max": _median_max([x for w in margins_w for x in w]),
            "relative_right_min_median": _min_median(rel_r),
            "relative_wrong_median_max": _median_max([x for w in rel_w for x in w]),
            "word_start_error_ms_median_p90": [float(np.median(errs)), float(np.percentile(errs, 90))] if errs else None,
            "failed_right": failed,
            "per_recording": {row["audio"]: {"right": round(float(r), 3), "wrong": [round(float(x), 3) for x in w],
                                             "right_margin": _rounded(m), "right_relative": _rounded(rel)}
                              for row, r, w, m, rel in zip(rows, right, wrongs, margins_r, rel_r)},
        })
        human = [i for i, row in enumerate(rows) if row.get("human", True)]
        if len(human) < len(rows):
            # wrong transcripts stay those of every recording; only the audio is restricted to people
            result["human only"] = summary(human)
        for g in sorted({r.get("group", "") for r in rows} - {""}):
            idx = [i for i, r in enumerate(rows) if r.get("group") == g]
            result[f"group {g}"] = summary(idx)
        report[kind] = result
    return report


HABIBI_GROUPS = {"Najdi": "najdi", "Hijazi": "hijazi", "Gulf": "gulf", "UAE": "emirati", "ALG": "algerian",
                 "IRQ": "iraqi", "MSA": "msa", "EGY": "egyptian", "MAR": "moroccan"}


def habibi_manifest(checkout: Path, folder: Path) -> Path:
    """The Habibi TTS reference prompts as a manifest: audio converted to 16 kHz wav, texts from its README.

    The ``.wav`` prompts come from the Habibi benchmark (people speaking); the ``.mp3`` ones are
    ElevenLabs library voices, marked ``"human": false`` (the assets' README says so).
    """
    import re
    import subprocess

    assets = checkout / "src" / "habibi_tts" / "assets"
    readme = assets / "README.md"
    if not readme.is_file():
        raise SystemExit(f"--habibi {checkout}: no {readme.relative_to(checkout)}; expected a checkout of "
                         "github.com/SWivid/Habibi-TTS")
    lines = []
    for name, ext, text in re.findall(r'# (\w+)\.(wav|mp3) \([^)]*\)\n"([^"]+)"', readme.read_text()):
        source = assets / f"{name}.{ext}"
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(source), "-ac", "1",
                        "-ar", "16000", str(folder / f"{name}.wav")], check=True)
        lines.append({"audio": f"{name}.wav", "text": text, "lang": "ar", "group": HABIBI_GROUPS.get(name, name),
                      "human": ext == "wav"})
    if not lines:
        raise SystemExit(f"{readme}: found no '# NAME.wav (id)' entries followed by a quoted transcript")
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    return manifest


def pocketsphinx_manifest(checkout: Path, folder: Path) -> Path:
    """Real English speech from pocketsphinx's test data: 11 recordings with their transcripts.

    Five LibriVox readings (public domain) with word boundaries from pocketsphinx's own alignment
    (``*.json``; an aligner's output, not hand-marked), five short card names ("ten of clubs") and
    "go forward ten meters" (16 kHz raw PCM).
    """
    import re

    import praatio.textgrid
    from praatio.data_classes.interval_tier import IntervalTier

    data = checkout / "test" / "data"
    if not (data / "librivox" / "transcription").is_file():
        raise SystemExit(f"--pocketsphinx {checkout}: no test/data/librivox/transcription; expected a checkout of "
                         "github.com/cmusphinx/pocketsphinx")

    def sphinx_lines(path: Path) -> list[tuple[str, str]]:  # "<s> words </s> (id)" -> (id, words)
        return re.findall(r"<s>\s*(.*?)\s*</s>\s*\((\S+)\)", path.read_text())

    lines = []
    for text, stem in sphinx_lines(data / "librivox" / "transcription"):
        audio, words = data / "librivox" / f"{stem}.wav", json.loads((data / "librivox" / f"{stem}.json").read_text())
        entries = [(round(w["b"], 3), round(w["b"] + w["d"], 3), w["t"].split("(")[0]) for w in words["w"]
                   if not w["t"].startswith("<")]
        grid = praatio.textgrid.Textgrid()
        grid.addTier(IntervalTier("words", entries, 0, max(sf.info(audio).duration, entries[-1][1])))
        grid.save(str(folder / f"{stem}.TextGrid"), format="long_textgrid", includeBlankSpaces=True)
        lines.append({"audio": str(audio), "text": text, "lang": "en", "textgrid": f"{stem}.TextGrid",
                      "group": "librivox"})
    for text, stem in sphinx_lines(data / "cards" / "cards.transcription"):
        lines.append({"audio": str(data / "cards" / f"{stem}.wav"), "text": text, "lang": "en", "group": "cards"})
    pcm = np.fromfile(data / "goforward.raw", dtype="<i2").astype(np.float32) / 32768
    sf.write(folder / "goforward.wav", pcm, 16000)
    lines.append({"audio": "goforward.wav", "text": "go forward ten meters", "lang": "en", "group": "commands"})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest


def _words_only(path: Path) -> Alignment:
    """A reference TextGrid with a "words" tier and no "phones" tier."""
    from praatio.utilities.textgrid_io import parseTextgridStr

    from data_prep.phonemes import Interval

    tiers = {t["name"]: t for t in parseTextgridStr(path.read_text(), includeEmptyIntervals=False)["tiers"]}
    if "words" not in tiers:
        raise ValueError(f"{path}: reference TextGrid has no tier named 'words'")
    return Alignment([Interval(float(s), float(e), str(lab)) for s, e, lab in tiers["words"]["entries"]
                      if str(lab).strip()], [], 1.0, "reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="manifest.jsonl of real recordings (see the docstring)")
    parser.add_argument("--habibi", type=Path, help="a checkout of github.com/SWivid/Habibi-TTS: its 9 prompts")
    parser.add_argument("--pocketsphinx", type=Path,
                        help="a checkout of github.com/cmusphinx/pocketsphinx: 11 English recordings of its test data")
    parser.add_argument("--standin", action="store_true", help="build and use the espeak-ng stand-in set")
    parser.add_argument("--quick", action="store_true", help="stand-in: 4 sentences x 5 voices")
    parser.add_argument("--aligners", nargs="+", default=["builtin"], help="builtin, ctc, mfa")
    parser.add_argument("--ctc-model", default=None, help="hub id or local folder of a wav2vec2-style CTC model")
    parser.add_argument("--gate", type=float, default=PhonemesConfig.min_confidence)
    parser.add_argument("--wrong", choices=["all", "next"], default="all",
                        help="wrong transcripts: every other recording's (default) or the next one's")
    parser.add_argument("--posterior-model", default=PhonemesConfig.posterior_model,
                        help="the built-in aligner's judge: phonet (default), a folder of its weights, "
                             "or 'none' for the coarse-DTW margin")
    parser.add_argument("--min-phone-frames", type=int, default=None,
                        help="the phone-posterior HMM's shortest phone in 10 ms frames (long phones twice it); "
                             "default data_prep.arabic.posterior_margin.MIN_FRAMES (4: 40 ms)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if not (args.data or args.standin or args.habibi or args.pocketsphinx):
        parser.error("give --data MANIFEST, --habibi CHECKOUT, --pocketsphinx CHECKOUT or --standin")
    if args.min_phone_frames is not None:  # a sweep of the shortest phone: the module constant is read per call
        from data_prep.arabic import posterior_margin

        posterior_margin.MIN_FRAMES = args.min_phone_frames
    with tempfile.TemporaryDirectory() as tmp:
        if args.data:
            manifest = args.data
        elif args.habibi:
            manifest = habibi_manifest(args.habibi, Path(tmp))
        elif args.pocketsphinx:
            manifest = pocketsphinx_manifest(args.pocketsphinx, Path(tmp))
        else:
            manifest = make_standin(Path(tmp), 4 if args.quick else 12, STANDIN_VOICES)
        judge = None if args.posterior_model in (None, "none", "null") else args.posterior_model
        report = evaluate(manifest, args.aligners, args.gate, args.ctc_model, args.wrong, judge)
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
