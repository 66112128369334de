"""Languages besides Arabic: English phones and visemes end to end, Arabic-only steps only for Arabic, dialect words.

The English source is a generated talking-face video whose sound track is
replaced by espeak-ng English (the lips do not follow it, which no stage
without the sync filter checks); it goes through lipsync-prep beside an
Arabic source, into one shard set.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import webdataset as wds

from data_prep.arabic.phoneset import PHONE_SET
from data_prep.phone_inventory import ALL_PHONES, OTHER_PHONES, ipa_phone, viseme_of
from data_prep.phonemes import Alignment, BuiltinAligner

BIN = Path(sys.executable).parent
ENGLISH = "The quick brown fox jumps over the lazy dog, and then it runs away."


def _espeak_audio(text: str, voice: str, rate: int = 150, pitch: int = 40) -> np.ndarray:
    from data_prep.arabic.dtw_aligner import to_feature_rate
    from data_prep.espeak import synthesize

    speech = synthesize(text, voice=voice, rate=rate, pitch=pitch)
    x = to_feature_rate(speech.audio, speech.sample_rate)
    x = np.concatenate([np.zeros(3200, np.float32), x, np.zeros(3200, np.float32)])
    x += np.random.default_rng(0).normal(scale=0.005, size=x.shape).astype(np.float32)
    return (np.clip(x, -1, 1) * 32767).astype(np.int16)


def test_every_phone_has_one_id_and_a_viseme():
    assert ALL_PHONES[: len(PHONE_SET)] == PHONE_SET  # Arabic ids never move
    assert len(set(ALL_PHONES)) == len(ALL_PHONES)
    assert all(viseme_of(p) >= 0 for p in ALL_PHONES)
    assert ipa_phone("ˈaɪ") == "aɪ" and ipa_phone("ɔ̃") == "ɔ" and ipa_phone("ʘ") is None
    assert viseme_of("p") == viseme_of("b") and viseme_of("v") == viseme_of("f") and viseme_of("ʊ") == viseme_of("u")


def test_english_gets_english_phones_and_no_arabic_steps(monkeypatch):
    import data_prep.arabic.diacritize as diacritize

    def refuse(*args, **kwargs):
        raise AssertionError("the Arabic diacritiser ran on English text")

    monkeypatch.setattr(diacritize, "diacritize", refuse)
    ali = BuiltinAligner(min_confidence=0.0).align(_espeak_audio(ENGLISH, "en+m3"), 16000, ENGLISH, lang="en")
    assert [w.label for w in ali.words] == ENGLISH.replace(",", "").replace(".", "").split()
    labels = {p.label for p in ali.phones}
    assert labels & set(OTHER_PHONES) and labels <= set(ALL_PHONES)  # English-only phones, all known
    assert ali.meta["phone_set"] == "espeak-en" and ali.meta["lang"] == "en"
    assert ali.confidence > 0.3
    # a French transcript on English audio scores below the English one: the null model works per language
    wrong = BuiltinAligner(min_confidence=0.0).align(_espeak_audio(ENGLISH, "en+m3"), 16000,
                                                     "Le chat dort sur la chaise pendant que nous mangeons.",
                                                     lang="fr")
    assert wrong.confidence < ali.confidence - 0.2


def test_dialect_and_foreign_words_stay_unaligned_inside_a_kept_alignment():
    text = "مرحبا بكم 你好 في بيتنا الجميل"
    audio = _espeak_audio("مَرْحَبًا بِكُمْ فِي بَيْتِنَا الْجَمِيلِ", "ar+m2", rate=170)
    ali = BuiltinAligner(min_confidence=0.0, diacritizer="mishkal").align(audio, 16000, text)
    labels = [w.label for w in ali.words]
    assert labels[:2] == ["مرحبا", "بكم"] and labels[-3:] == ["في", "بيتنا", "الجميل"]
    assert "你好" not in labels and ali.meta["unaligned_words"] == ["你好"]
    assert {p.label for p in ali.phones} <= set(PHONE_SET)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory) -> Path:
    """Two speakers x two videos; one video of each speaker gets an English sound track. Half the speakers go to
    val, so train and val both hold Arabic and English clips."""
    root = tmp_path_factory.mktemp("mixed")
    proc = subprocess.run([str(BIN / "lipsync-make-data"), f"out_dir={root / 'gen'}", "n_speakers=2",
                           "videos_per_speaker=2", "n_broken=0", "seed=11"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (root / "gen" / "manifest.jsonl").read_text().splitlines()]
    sf.write(root / "en.wav", _espeak_audio(ENGLISH, "en+f2", rate=140), 16000)
    for speaker in sorted({r["speaker"] for r in rows}):
        i = max(k for k, r in enumerate(rows) if r["speaker"] == speaker)  # the speaker's last video
        video = Path(rows[i]["url"].removeprefix("file://"))
        english = root / f"english_{speaker}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-i", str(root / "en.wav"), "-map", "0:v",
                        "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(english)], check=True, timeout=120)
        rows[i] = dict(rows[i], id=f"english_{speaker}", url=english.resolve().as_uri(), text=ENGLISH, lang="en")
    manifest = root / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    out = root / "out"
    proc = subprocess.run([str(BIN / "lipsync-prep"), f"manifest={manifest}", f"out_dir={out}", "progress=false",
                           "phonemes.aligner=auto", "sync.ckpt=null", "workers=1", "shards.val_fraction=0.5",
                           "shards.test_fraction=0"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.slow  # generates four videos and preps them: ~3-5 min on 2 shared cores
@pytest.mark.timeout(1200)
def test_english_source_through_the_pipeline_beside_an_arabic_one(mixed_run):
    seen = {}
    for shard in sorted((mixed_run / "shards").glob("*.tar")):
        for sample in wds.WebDataset(str(shard), shardshuffle=False):
            meta = json.loads(sample["meta.json"])
            seen.setdefault(meta["lang"], []).append((meta, sample))
    assert set(seen) == {"ar", "en"}, {k: len(v) for k, v in seen.items()}
    for lang, phone_set in (("ar", "ar-msa"), ("en", "espeak-en")):
        for meta, sample in seen[lang]:
            ali = meta["alignment"]
            assert ali["status"] == "ok" and ali["lang"] == lang and ali["phone_set"] == phone_set, ali
            assert ali["aligner"] == "builtin-dtw"  # auto, offline: no CTC weights here
            phone_ids = np.load(__import__("io").BytesIO(sample["phone_ids.npy"]))
            viseme_ids = np.load(__import__("io").BytesIO(sample["viseme_ids.npy"]))
            assert ((phone_ids >= 0) == (viseme_ids >= 0)).all() and (phone_ids >= 0).any()
            grid = Alignment.from_textgrid(sample["phones.textgrid"].decode())
            labels = {p.label for p in grid.phones}
            if lang == "en":
                assert labels & set(OTHER_PHONES) and phone_ids.max() >= len(PHONE_SET)
            else:
                assert labels <= set(PHONE_SET) and phone_ids.max() < len(PHONE_SET)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_mixed_arabic_english_shard_set_trains_the_syncnet_as_it_is(mixed_run, tmp_path):
    index = json.loads((mixed_run / "index.json").read_text())
    for split in ("train", "val"):
        langs = set()
        for shard in index["splits"][split]["shards"]:
            for sample in wds.WebDataset(str(mixed_run / "shards" / shard["name"]), shardshuffle=False):
                langs.add(json.loads(sample["meta.json"])["lang"])
        assert langs == {"ar", "en"}, (split, langs)
    out = tmp_path / "syncnet"
    proc = subprocess.run([str(BIN / "lipsync-train"), "experiment=syncnet", f"data.shards={mixed_run}",
                           f"paths.output_dir={out}", "logger=csv", "trainer.max_steps=6", "data.batch_size=4",
                           "data.num_workers=0", "data.batches_per_epoch=3", "trainer.enable_progress_bar=false",
                           "model.net.video_channels=[8,16,16,32]", "model.net.audio_channels=[8,16,16,32]",
                           "model.net.embed_dim=32"], capture_output=True, text=True, timeout=800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = (out / "csv" / "metrics.csv").read_text()
    assert "val/loss" in metrics and (out / "checkpoints" / "last.ckpt").is_file()
