"""Converters from MultiTalk and MuAViC annotations produce valid manifests, and annotations as they really are
(empty, outro, music lines; broken JSON, byte-order marks, cp1256, missing box keys) cost only the bad clips,
each recorded with its file, clip and reason."""

import json
import re
import shlex
from pathlib import Path

import pytest

from data_prep.workflow.converters import main
from data_prep.workflow.converters._transcripts import check_transcript, load_rules, match_key
from data_prep.workflow.converters.muavic import from_muavic
from data_prep.workflow.converters.multitalk import from_multitalk
from data_prep.workflow.manifest import read_manifest

README = Path(__file__).resolve().parents[2] / "README.md"
BOX = {"top": 0.1, "bottom": 0.6, "left": 0.3, "right": 0.7}


def clip(youtube_id, transcript, start=1.0, end=4.0, box=BOX):
    return {"youtube_id": youtube_id, "duration": {"start_sec": start, "end_sec": end}, "bbox": dict(box),
            "language": "arabic", "transcript": transcript}


def write_json(path, clips, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clips, ensure_ascii=False), encoding=encoding)
    return path


def dropped(out):
    """{clip: reason} and the full lines of OUTPUT.dropped.jsonl."""
    lines = [json.loads(x) for x in Path(str(out).removesuffix(".jsonl") + ".dropped.jsonl").read_text().splitlines()]
    return {x["clip"]: x["reason"] for x in lines}, lines


def test_multitalk(tmp_path):
    src = write_json(tmp_path / "arabic.json", {
        "vidA_1": clip("vidA", "سوى عينيك يا حبيبي", 13.12, 17.12, {"top": 0, "bottom": 0.58, "left": 0.33, "right": 0.87}),
        "vidA_0": clip("vidA", "انت", 9.32, 10.8),
    })
    out = tmp_path / "m.jsonl"
    main(["multitalk", str(src), str(out)])
    entries = read_manifest(out)
    assert [e.id for e in entries] == ["mt_vidA_0", "mt_vidA_1"]
    assert entries[1].url == "https://www.youtube.com/watch?v=vidA"
    assert (entries[1].start, entries[1].end) == (13.12, 17.12)
    assert entries[0].speaker == entries[1].speaker == "yt_vidA"
    assert entries[1].box == {"top": 0.0, "bottom": 0.58, "left": 0.33, "right": 0.87}  # kept for the active speaker
    assert entries[1].text == "سوى عينيك يا حبيبي" and entries[1].extra["clip"] == "vidA_1"


# clip id -> (transcript, expected reason or None to keep); spellings vary on purpose (diacritics, tatweel, hamza)
TRANSCRIPTS = {
    "v_good": ("كيف حالك اليوم يا صديقي", None),
    "v_empty": ("", "empty_transcript"),
    "v_blank": ("   ", "empty_transcript"),
    "v_sub": ("اشتركوا في القناة", "outro"),
    "v_sub_marks": ("اشْتَرِكُوا فِي القنـــاة!", "outro"),
    "v_sub_bi": ("لا تنسوا الاشتراك بالقناه", "outro"),
    "v_thanks": ("شكراً على المشاهدة", "outro"),
    "v_thanks2": ("شكرا جزيلا للمشاهدة", "outro"),
    "v_credit": ("ترجمة نانسي قنقر", "outro"),
    "v_music": ("موسيقى", "music"),
    "v_music_br": ("[موسيقى]", "music"),
    "v_notes": ("♪ ♪", "music"),
    "v_english": ("this is it take it or leave it", "no_arabic"),
    # a host asking for subscriptions inside a longer sentence is real speech: kept
    "v_host": ("قبل ما تستمتعوا بالحلقة لا تنسوا تشتركوا بالقناة وتكبسوا على الجرس", None),
    "v_thanks_only": ("شكرا", None),
}


def test_empty_outro_and_music_lines_are_dropped_with_reasons_and_a_summary(tmp_path, capsys):
    clips = {cid: clip("v", text) for cid, (text, _) in TRANSCRIPTS.items()}
    clips["v_tail"] = clip("v", "اللي هي قليلة جداً على أولاده ترجمة نانسي قنقر")
    clips["v_fast"] = clip("v", "انا " * 40, 0.0, 2.0)  # 120 letters in 2 s
    src = write_json(tmp_path / "arabic.json", clips)
    out = tmp_path / "m.jsonl"
    main(["multitalk", str(src), str(out)])
    entries = {e.extra["clip"]: e for e in read_manifest(out)}
    assert set(entries) == {c for c, (_, r) in TRANSCRIPTS.items() if r is None} | {"v_tail", "v_fast"}
    reasons, lines = dropped(out)
    assert reasons == {c: r for c, (_, r) in TRANSCRIPTS.items() if r is not None}
    assert all(x["file"] == str(src) and x["stage"] == "convert" and x["detail"] for x in lines)
    tail = entries["v_tail"]  # the credit is cut off a real transcript, marked, the original kept
    assert tail.text == "اللي هي قليلة جداً على أولاده" and tail.extra["marks"] == ["credit_removed"]
    assert tail.extra["text_original"].endswith("نانسي قنقر")
    assert entries["v_fast"].extra["marks"] == ["text_too_fast"] and "marks" not in entries["v_good"].extra
    printed = capsys.readouterr().out
    assert f"{len(clips)} clips read, {len(entries)} kept, {len(reasons)} dropped" in printed
    for reason, count in {"outro": 6, "music": 3, "empty_transcript": 2, "no_arabic": 1}.items():
        assert re.search(rf"dropped\s+{reason}\s+{count}\b", printed), (reason, printed)
    assert re.search(r"marked\s+credit_removed\s+1\b", printed) and re.search(r"marked\s+text_too_fast\s+1\b", printed)


def test_match_key_folds_spellings_and_every_rule_compiles():
    assert match_key("اشْتَرِكُوا فِي القنـــاة!") == match_key("اشتركوا في القناه") == "اشتركوا في القناه"
    assert match_key("أإآٱ ى ة") == "اااا ي ه"
    rules = load_rules()
    assert {r.kind for r in rules} == {"outro", "music", "suffix"}


@pytest.mark.parametrize("text", [
    "لا تنسى الاشتراك في القناة",  # singular verb (MultiTalk's arabic.json let it through before)
    "لا تنسي الاشتراك في القناة",  # feminine
    "لا تنس الاشتراك بالقناة",  # jussive
    "لا تنسوا الاشتراك في القناة",
    "اشتركي في القناة",
    "المترجم الى القناة",  # MultiTalk's arabic.json let it through before
    "المترجمة للقناة",
])
def test_outro_variants_are_dropped(text):
    assert check_transcript(text, 3.0, load_rules()).drop == "outro"


@pytest.mark.parametrize("text", [
    "لا تنسى أن تراجع الدرس قبل الامتحان",  # the same verbs in a teacher's sentence
    "المترجم الى العربية هو أحمد",
    "اشتركت في القناة الرياضية منذ سنوات طويلة",
])
def test_speech_that_shares_outro_words_is_kept(text):
    assert check_transcript(text, 3.0, load_rules()).drop is None


def test_broken_clips_cost_only_themselves(tmp_path):
    clips = {"a_0": clip("a", "مرحبا بكم"), "a_1": clip("a", "كيف الحال"),
             "a_2": clip("a", "نعم", box={"top": 0.1, "bottom": 0.5, "left": 0.2}),  # no "right"
             "a_3": {"youtube_id": "a", "bbox": BOX, "transcript": "لا"},  # no duration
             "a_4": clip("a", "أهلا", 5.0, 2.0),  # ends before it starts
             "a_5": clip("a", "طيب")}
    text = json.dumps(clips, ensure_ascii=False)
    # a missing colon inside a_1, a missing comma between a_4 and a_5 (loses nothing), a repeated id,
    # and a file cut off inside the last clip
    text = text.replace('"transcript": "كيف الحال"', '"transcript" "كيف الحال"').replace(', "a_5"', ' "a_5"')
    assert '} "a_5"' in text
    text = text[:-1] + ', "a_0": ' + json.dumps(clip("a", "مكرر"), ensure_ascii=False) + ', "a_6": {"youtube_id": "a", "dur'
    src = tmp_path / "arabic.json"
    src.write_text(text, encoding="utf-8")
    conversion = from_multitalk(src)
    assert [e.id for e in conversion.entries] == ["mt_a_0", "mt_a_5"] and conversion.entries[0].text == "مرحبا بكم"
    skipped = {s.clip: s for s in conversion.skipped}
    assert {c: s.reason for c, s in skipped.items()} == {
        "a_1": "malformed", "a_2": "malformed", "a_3": "malformed", "a_4": "malformed", "a_0": "duplicate_clip",
        "a_6": "malformed"}
    assert all(str(src) in s.detail and repr(c) in s.detail for c, s in skipped.items())
    assert "'bbox'" in skipped["a_2"].detail and "right" in skipped["a_2"].detail
    assert "duration" in skipped["a_3"].detail and "invalid JSON" in skipped["a_1"].detail
    assert "truncated" in skipped["a_6"].detail and conversion.clips_read == 8


def test_byte_order_mark_is_accepted(tmp_path):
    src = write_json(tmp_path / "arabic.json", {"b_0": clip("b", "صباح الخير")}, encoding="utf-8-sig")
    assert src.read_bytes()[:3] == b"\xef\xbb\xbf"
    assert [e.text for e in from_multitalk(src).entries] == ["صباح الخير"]


def test_cp1256_fails_naming_file_and_clip_unless_the_encoding_is_given(tmp_path, capsys):
    src = write_json(tmp_path / "arabic.json", {"c_0": clip("c", "hello"), "c_1": clip("c", "صباح الخير")},
                     encoding="cp1256")
    out = tmp_path / "m.jsonl"
    with pytest.raises(SystemExit) as stop:
        main(["multitalk", str(src), str(out)])
    error = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in error
    assert str(src) in error and "not UTF-8" in error and "'c_1'" in error and "--encoding cp1256" in error
    assert not out.exists()
    main(["multitalk", str(src), str(out), "--encoding", "cp1256"])
    assert [e.text for e in read_manifest(out)] == ["صباح الخير"]
    assert "decoding" in capsys.readouterr().err


def test_a_file_that_is_not_an_object_is_a_clear_error(tmp_path, capsys):
    src = tmp_path / "arabic.json"
    src.write_text("[1, 2]")
    with pytest.raises(SystemExit):
        main(["multitalk", str(src), str(tmp_path / "m.jsonl")])
    assert f"{src}: expected a JSON object keyed by clip id" in capsys.readouterr().err


def upstream_layout(root, clips, downloaded):
    """MultiTalk cloned into ``root`` as upstream lays it out, with its download script's output for some videos."""
    annotations = root / "MultiTalk" / "MultiTalk_dataset" / "annotations"
    write_json(annotations / "arabic.json", clips)
    raw = annotations.parent / "raw_video" / "arabic"  # download_and_process.py: raw_video/<language>/<id>.mp4
    raw.mkdir(parents=True)
    for video_id in downloaded:
        (raw / f"{video_id}.mp4").write_bytes(b"not really a video")
    return raw


def readme_commands():
    return [shlex.split(line)[1:] for line in README.read_text(encoding="utf-8").splitlines()
            if line.startswith(".venv/bin/lipsync-convert-manifest multitalk ")]


def test_readme_commands_work_as_written_on_the_upstream_layout(tmp_path, monkeypatch):
    commands = readme_commands()
    assert commands and any("--videos" in c for c in commands) and any("--videos" not in c for c in commands)
    clips = {"yt1AAAAAAAA_0": clip("yt1AAAAAAAA", "مرحبا بكم"), "yt1AAAAAAAA_1": clip("yt1AAAAAAAA", "اشتركوا في القناة"),
             "yt2BBBBBBBB_0": clip("yt2BBBBBBBB", "كيف حالك")}
    raw = upstream_layout(tmp_path, clips, downloaded=["yt1AAAAAAAA"])
    monkeypatch.chdir(tmp_path)  # the README's commands run from our checkout, MultiTalk cloned inside it
    for argv in commands:
        main(argv)
        out = Path(argv[2])
        entries = read_manifest(out)
        if "--videos" in argv:
            assert [e.id for e in entries] == ["mt_yt1AAAAAAAA_0"]
            assert Path(entries[0].url) == (raw / "yt1AAAAAAAA.mp4").resolve()
            assert not Path(json.loads(out.read_text())["url"]).is_absolute()  # relative to the manifest's folder
            assert dropped(out)[0] == {"yt1AAAAAAAA_1": "outro", "yt2BBBBBBBB_0": "video_missing"}
        else:
            assert [e.id for e in entries] == ["mt_yt1AAAAAAAA_0", "mt_yt2BBBBBBBB_0"]


def test_videos_folder_of_cut_clips_and_wrong_case_are_clear_errors(tmp_path, monkeypatch, capsys):
    clips = {"yt1AAAAAAAA_0": clip("yt1AAAAAAAA", "مرحبا بكم")}
    upstream_layout(tmp_path, clips, downloaded=[])
    cut = tmp_path / "MultiTalk" / "MultiTalk_dataset" / "multitalk_dataset" / "arabic"
    cut.mkdir(parents=True)
    (cut / "yt1AAAAAAAA_0.mp4").write_bytes(b"512x512 cut")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["multitalk", "MultiTalk/MultiTalk_dataset/annotations/arabic.json", "m.jsonl", "--videos", str(cut)])
    assert "raw_video/<language>" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["multitalk", "MultiTalk/MultiTalk_Dataset/annotations/arabic.json", "m.jsonl"])
    assert "did you mean MultiTalk/MultiTalk_dataset/annotations/arabic.json" in capsys.readouterr().err


def test_muavic_segments_with_parallel_text(tmp_path):
    seg = tmp_path / "test.yaml"
    seg.write_text("- {duration: 3.5, offset: 12.25, rel_path: wav/talkX.flac, speaker_id: talkX}\n"
                   "- {duration: 2.0, offset: 20.0, rel_path: wav/talkX.flac, speaker_id: talkX}\n"
                   "- {duration: 4.0, offset: 1.0, rel_path: wav/talkY.flac, speaker_id: spkY}\n")
    text = tmp_path / "test.ar"
    text.write_text("جملة أولى\nجملة ثانية\nجملة ثالثة\n", encoding="utf-8")
    entries = from_muavic(seg, text).entries
    assert [e.id for e in entries] == ["mtedx_talkX_0000", "mtedx_talkX_0001", "mtedx_talkY_0000"]
    assert entries[0].end == pytest.approx(15.75) and entries[2].speaker == "spkY"
    assert entries[1].text == "جملة ثانية"
    text.write_text("one line only\n")
    with pytest.raises(ValueError, match="parallel"):
        from_muavic(seg, text)


def test_muavic_bad_segments_are_skipped_with_file_and_segment_and_the_rest_convert(tmp_path, capsys):
    seg = tmp_path / "test.yaml"
    seg.write_text("- {duration: 3.5, offset: 12.25, rel_path: wav/talkX.flac, speaker_id: talkX}\n"
                   "- {offset: 20.0, rel_path: wav/talkX.flac, speaker_id: talkX}\n"      # no duration
                   "- {duration: 2.0, offset: 30.0, speaker_id: talkX}\n"                 # no rel_path
                   "- {duration: two, offset: 40.0, rel_path: wav/talkX.flac}\n"          # not a number
                   "- {duration: 4.0, offset: 1.0, rel_path: wav/talkY.flac, speaker_id: spkY}\n")
    text = tmp_path / "test.ar"
    text.write_text("جملة أولى\nجملة ثانية\nجملة ثالثة\nجملة رابعة\nجملة خامسة\n", encoding="utf-8")
    result = from_muavic(seg, text)
    assert [e.id for e in result.entries] == ["mtedx_talkX_0000", "mtedx_talkY_0000"]
    assert result.entries[1].text == "جملة خامسة"  # transcripts stay parallel past the skipped segments
    assert [(s.clip, s.reason) for s in result.skipped] == [("segment 1", "malformed"), ("segment 2", "malformed"),
                                                             ("segment 3", "malformed")]
    assert "'duration' missing" in result.skipped[0].detail and "rel_path" in result.skipped[1].detail
    assert all(str(seg) in s.detail for s in result.skipped)
    out = tmp_path / "m.jsonl"
    main(["muavic", str(seg), str(out), "--text", str(text)])
    assert len(out.read_text().splitlines()) == 2
    assert len((tmp_path / "m.dropped.jsonl").read_text().splitlines()) == 3
    seg.write_text("- {duration: 3.5, offset: 12.25\n- [unclosed\n")
    with pytest.raises(SystemExit):
        main(["muavic", str(seg), str(out)])
    assert f"{seg}:" in capsys.readouterr().err
