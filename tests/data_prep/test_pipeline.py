"""End to end: generated Arabic videos (with broken ones) -> lipsync-prep -> shards.

Covers the "must work as written" interface, every bad-input reason the
generator plants, resume after a real SIGKILL, and a 2-part array + merge
giving the same samples as one run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds

from data_prep import schema

BIN = Path(sys.executable).parent


def prep(manifest: Path, out: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "lipsync-prep"), f"manifest={manifest}", f"out_dir={out}", "progress=false", *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if check:
        assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def members(samples: dict[str, dict]) -> dict[str, dict]:
    """Each sample's members without webdataset's own ``__key__`` / ``__url__`` (the shard's path differs)."""
    return {key: {m: v for m, v in sample.items() if not m.startswith("__")} for key, sample in samples.items()}


def drop_records(out: Path) -> list[tuple]:
    """``dropped.jsonl`` as sorted (id, stage, reason) rows, whatever order the workers wrote them in."""
    rows = [json.loads(line) for line in (out / "dropped.jsonl").read_text().splitlines()]
    return sorted((r["id"], r["stage"], r["reason"]) for r in rows)


def read_all(out: Path) -> dict[str, dict]:
    samples = {}
    for shard in sorted((out / "shards").glob("*.tar")):
        for sample in wds.WebDataset(str(shard), shardshuffle=False):
            assert sample["__key__"] not in samples, f"duplicate sample {sample['__key__']}"
            samples[sample["__key__"]] = sample
    return samples


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    proc = subprocess.run([str(BIN / "lipsync-make-data"), f"out_dir={root}", "n_speakers=3", "videos_per_speaker=1",
                           "seed=7"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "manifest.jsonl"


@pytest.fixture(scope="module")
def full_run(generated, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prep")
    proc = prep(generated, out, "workers=2")
    assert "dropped (stage / reason: count)" in proc.stdout  # the summary table is printed
    return out


def test_outputs_follow_the_contract(generated, full_run):
    index = json.loads((full_run / "index.json").read_text())
    samples = read_all(full_run)
    assert samples, "no clip survived"
    total = sum(s["samples"] for s in index["splits"].values())
    assert total == len(samples)
    for split, info in index["splits"].items():
        for shard in info["shards"]:
            assert shard["name"].endswith(".tar") and shard["name"].startswith(split)
    speakers_by_split: dict[str, set] = {}
    for key, sample in samples.items():
        assert set(schema.REQUIRED_KEYS) <= set(sample), key
        clip = schema.decode_sample(sample)
        assert clip.frames.shape[1:] == (256, 256, 3)
        assert len(clip.audio) == clip.meta.n_frames * schema.SAMPLES_PER_FRAME
        assert clip.landmarks.shape == (clip.meta.n_frames, 478, 2)
        assert len(clip.meta.affines) == clip.meta.n_frames and clip.meta.fps == 25
        speakers_by_split.setdefault(clip.meta.split, set()).add(clip.meta.speaker)
    splits = list(speakers_by_split.values())
    assert all(not (a & b) for i, a in enumerate(splits) for b in splits[i + 1:]), "a speaker is in two splits"


def test_index_counts_the_clips_with_phonemes(full_run):
    index = json.loads((full_run / "index.json").read_text())
    statuses = [clip["phonemes"] for clip in index["clips"].values()]
    assert statuses and index["phonemes"] == {s: statuses.count(s) for s in set(statuses)}
    aligned = [clip for clip in index["clips"].values() if clip["phonemes"] == "ok"]
    assert aligned and all(0.0 <= clip["alignment_confidence"] <= 1.0 for clip in aligned)
    assert "alignment_confidence" in index["quality"]["kept_clips"]


def test_index_records_the_quality_thresholds_as_applied(full_run):
    from data_prep.workflow.quality import default_max_upscale

    index = json.loads((full_run / "index.json").read_text())
    limit = index["quality"]["thresholds"]["max_upscale"]
    assert limit == default_max_upscale(index["align"]["size"]) == 1.0  # quality.max_upscale: null -> the default
    assert index["clips"] and all(clip["upscale"] <= limit for clip in index["clips"].values())


def test_every_broken_source_is_dropped_with_its_reason(generated, full_run):
    expected = {}
    for line in generated.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "expect_drop" in row:
            expected[row["id"]] = row["expect_drop"]
    assert len(expected) >= 6, "the generator should plant each kind of broken input"
    dropped = [json.loads(line) for line in (full_run / "dropped.jsonl").read_text().splitlines()]
    assert all({"id", "stage", "reason"} <= set(d) for d in dropped)
    got = {d["id"]: d["reason"] for d in dropped if d["id"] in expected}
    assert got == expected
    kept_sources = {json.loads(s["meta.json"])["source_id"] for s in read_all(full_run).values()}
    assert not kept_sources & set(expected)


def test_config_typo_and_bad_manifest_fail_clearly(generated, tmp_path):
    proc = prep(generated, tmp_path / "x", "workrs=2", check=False)
    assert proc.returncode != 0 and "workrs" in (proc.stdout + proc.stderr)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "url": "file:///x.mp4"}\n{"id": "b", "url": "u", "start": "later"}\n')
    proc = prep(bad, tmp_path / "y", check=False)
    assert proc.returncode != 0 and "bad.jsonl:2" in proc.stderr and "start" in proc.stderr


def test_resume_after_kill_gives_the_same_samples(generated, full_run, tmp_path):
    out = tmp_path / "killed"
    cmd = [str(BIN / "lipsync-prep"), f"manifest={generated}", f"out_dir={out}", "progress=false", "workers=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "work" / "done").glob("*.json"))) < 2:
        assert proc.poll() is None, "the run finished before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "index.json").exists() and not list(out.glob("shards/*.tar"))
    subprocess.run(cmd, check=True, capture_output=True, timeout=900)
    resumed, reference = read_all(out), read_all(full_run)
    assert sorted(resumed) == sorted(reference)
    assert sorted(p.name for p in (out / "shards").glob("*.tar")) == sorted(
        p.name for p in (full_run / "shards").glob("*.tar"))
    for key, sample in reference.items():  # every member of every sample, byte for byte
        assert sorted(resumed[key]) == sorted(sample), key
        differ = [m for m in sample if not m.startswith("__") and resumed[key][m] != sample[m]]
        assert not differ, f"{key}: members {differ} differ from the uninterrupted run's"
    dropped = (out / "dropped.jsonl").read_text().splitlines()
    assert len(dropped) == len(set(dropped)), "a source was recorded as dropped twice"
    assert drop_records(out) == drop_records(full_run)


def test_two_part_array_then_merge_matches_one_run(generated, full_run, tmp_path):
    out = tmp_path / "parts"
    for part in ("0/2", "1/2"):
        prep(generated, out, f"part={part}")
    assert not (out / "index.json").exists()
    prep(generated, out, "merge_only=true")
    assert members(read_all(out)) == members(read_all(full_run))  # the same samples, byte for byte
    assert drop_records(out) == drop_records(full_run)
    merged = json.loads((out / "index.json").read_text())
    single = json.loads((full_run / "index.json").read_text())
    assert merged["parts"] == 2 and merged["drops"]["by_stage"] == single["drops"]["by_stage"]
    assert merged["speaker_splits"] == single["speaker_splits"]


def test_a_transcript_marked_too_fast_is_kept_unaligned_with_its_marks(generated, tmp_path):
    rows = [json.loads(line) for line in generated.read_text(encoding="utf-8").splitlines()]
    row = next(r for r in rows if "expect_drop" not in r and r.get("text"))
    manifest = tmp_path / "marked.jsonl"
    manifest.write_text(json.dumps(dict(row, id="marked", marks=["text_too_fast"])) + "\n", encoding="utf-8")
    prep(manifest, tmp_path / "out", "workers=1", "phonemes.aligner=builtin")
    samples = read_all(tmp_path / "out")
    assert samples, "the marked source lost its clips"
    for sample in samples.values():
        alignment = json.loads(sample["meta.json"])["alignment"]
        assert alignment["status"] == "skipped" and alignment["reason"] == "marked_text_too_fast", alignment
        assert alignment["transcript_marks"] == ["text_too_fast"]
        assert schema.TEXTGRID not in sample


def test_a_source_whose_alignment_fails_keeps_its_clips_unless_drop_failed(generated, tmp_path):
    rows = [json.loads(line) for line in generated.read_text(encoding="utf-8").splitlines()]
    row = next(r for r in rows if "expect_drop" not in r and r.get("text"))
    manifest = tmp_path / "one.jsonl"
    manifest.write_text(json.dumps(row) + "\n", encoding="utf-8")
    gate = "phonemes.min_confidence=1.01"  # above any confidence: every alignment fails
    proc = prep(manifest, tmp_path / "kept", "workers=1", "phonemes.aligner=builtin", gate)
    samples = read_all(tmp_path / "kept")
    assert samples, "the default (drop_failed=false) lost the source's clips"
    index = json.loads((tmp_path / "kept" / "index.json").read_text())
    assert index["phonemes"] == {"failed:low_confidence": len(samples)}
    assert {c["phonemes"] for c in index["clips"].values()} == {"failed:low_confidence"}
    assert f"phonemes: 0 of {len(samples)} clips aligned (without: failed:low_confidence {len(samples)})" in proc.stdout
    for sample in samples.values():
        alignment = json.loads(sample["meta.json"])["alignment"]
        assert alignment["status"] == "failed" and alignment["reason"] == "low_confidence", alignment
        assert alignment["aligner"] == "builtin-dtw"
        assert not {schema.TEXTGRID, "phone_ids.npy", "viseme_ids.npy"} & set(sample), sorted(sample)
    assert not (tmp_path / "kept" / "dropped.jsonl").read_text().strip()

    prep(manifest, tmp_path / "dropped", "workers=1", "phonemes.aligner=builtin", gate, "phonemes.drop_failed=true")
    assert not read_all(tmp_path / "dropped")
    dropped = [json.loads(line) for line in (tmp_path / "dropped" / "dropped.jsonl").read_text().splitlines()]
    assert [(d["id"], d["stage"], d["reason"]) for d in dropped] == [(row["id"], "phonemes", "alignment_failed")]


def test_latentsync_crop_is_chosen_by_align_template_and_recorded(generated, tmp_path):
    from data_prep.face_align import LATENTSYNC_TEMPLATE, latentsync_points

    row = next(json.loads(line) for line in generated.read_text(encoding="utf-8").splitlines()
               if "expect_drop" not in json.loads(line))
    manifest = tmp_path / "one.jsonl"
    manifest.write_text(json.dumps(row) + "\n", encoding="utf-8")
    # the generated faces are small for 256 px: LatentSync's tighter crop enlarges them 1.02x
    prep(manifest, tmp_path / "out", "workers=1", "phonemes.aligner=none", "align.template=latentsync",
         "quality.max_upscale=1.5")
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["align"] == {"size": 256, "template": "latentsync"}
    clip = schema.decode_sample(next(iter(read_all(tmp_path / "out").values())))
    # the brows and the nose land where LatentSync's template puts them (its 210 x 280 crop resized to 256);
    # the shard's landmarks are in aligned-crop pixels
    points = latentsync_points(clip.landmarks.astype(np.float64)).mean(0)  # (3, 2), mean over frames
    target = LATENTSYNC_TEMPLATE * 2.8 * np.array([256 / 210, 256 / 280])
    assert np.abs(points - target).max() < 8, (points, target)
