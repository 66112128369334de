"""Converters from MultiTalk and MuAViC annotations produce valid manifests."""

import json

import pytest

from data_prep.workflow.converters import main
from data_prep.workflow.converters.muavic import from_muavic
from data_prep.workflow.converters.multitalk import from_multitalk
from data_prep.workflow.manifest import read_manifest


def test_multitalk(tmp_path):
    src = tmp_path / "arabic.json"
    src.write_text(json.dumps({
        "vidA_1": {"youtube_id": "vidA", "duration": {"start_sec": 13.12, "end_sec": 17.12},
                   "bbox": {"top": 0, "bottom": 0.58, "left": 0.33, "right": 0.87},
                   "language": "arabic", "transcript": "سوى عينيك يا حبيبي"},
        "vidA_0": {"youtube_id": "vidA", "duration": {"start_sec": 9.32, "end_sec": 10.8},
                   "bbox": {"top": 0, "bottom": 0.4, "left": 0.5, "right": 0.8},
                   "language": "arabic", "transcript": "انت"},
    }, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "m.jsonl"
    main(["multitalk", str(src), str(out)])
    entries = read_manifest(out)
    assert [e.id for e in entries] == ["mt_vidA_0", "mt_vidA_1"]
    assert entries[1].url == "https://www.youtube.com/watch?v=vidA"
    assert (entries[1].start, entries[1].end) == (13.12, 17.12)
    assert entries[0].speaker == entries[1].speaker == "yt_vidA"
    assert entries[1].extra["bbox"]["right"] == 0.87 and entries[1].text == "سوى عينيك يا حبيبي"


def test_multitalk_missing_field_names_clip(tmp_path):
    src = tmp_path / "arabic.json"
    src.write_text(json.dumps({"x_0": {"youtube_id": "x"}}))
    with pytest.raises(ValueError, match="x_0"):
        from_multitalk(src)


def test_muavic_segments_with_parallel_text(tmp_path):
    seg = tmp_path / "test.yaml"
    seg.write_text("- {duration: 3.5, offset: 12.25, rel_path: wav/talkX.flac, speaker_id: talkX}\n"
                   "- {duration: 2.0, offset: 20.0, rel_path: wav/talkX.flac, speaker_id: talkX}\n"
                   "- {duration: 4.0, offset: 1.0, rel_path: wav/talkY.flac, speaker_id: spkY}\n")
    text = tmp_path / "test.ar"
    text.write_text("جملة أولى\nجملة ثانية\nجملة ثالثة\n", encoding="utf-8")
    entries = from_muavic(seg, text)
    assert [e.id for e in entries] == ["mtedx_talkX_0000", "mtedx_talkX_0001", "mtedx_talkY_0000"]
    assert entries[0].end == pytest.approx(15.75) and entries[2].speaker == "spkY"
    assert entries[1].text == "جملة ثانية"
    text.write_text("one line only\n")
    with pytest.raises(ValueError, match="parallel"):
        from_muavic(seg, text)
