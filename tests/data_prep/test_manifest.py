"""Manifest parsing: good lines load, bad lines fail with file, line and field."""

import json

import pytest

from data_prep.workflow.manifest import ManifestError, read_manifest, select_part, write_manifest, parse_part


def write(tmp_path, lines):
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_reads_entries_and_keeps_extra_fields(tmp_path):
    path = write(tmp_path, [
        json.dumps({"id": "a1", "url": "file:///x.mp4", "start": 1.5, "end": 4, "speaker": "s1",
                    "text": "مرحبا", "lang": "ar", "bbox": {"top": 0.1}}, ensure_ascii=False),
        "",
        json.dumps({"id": "a2", "url": "https://www.youtube.com/watch?v=abc"}),
    ])
    entries = read_manifest(path)
    assert [e.id for e in entries] == ["a1", "a2"]
    assert entries[0].start == 1.5 and entries[0].end == 4.0 and entries[0].text == "مرحبا"
    assert entries[0].extra == {"bbox": {"top": 0.1}}
    assert entries[1].speaker_id == "a2"  # no speaker: the source is its own speaker
    out = tmp_path / "round.jsonl"
    write_manifest(entries, out)
    assert read_manifest(out) == entries


@pytest.mark.parametrize("line, lineno, field", [
    ('{"id": "a", "url": "u"}\n{"url": "u"}', 2, "id"),
    ('{"id": "a"}', 1, "url"),
    ('{"id": "a", "url": "u", "start": "ten"}', 1, "start"),
    ('{"id": "a", "url": "u", "start": 5, "end": 2}', 1, "end"),
    ('{"id": "a/b", "url": "u"}', 1, "id"),
    ('{"id": "a", "url": "u"}\n{"id": "a", "url": "v"}', 2, "id"),
    ('{"id": "a", "url": "u", "speaker": 3}', 1, "speaker"),
])
def test_bad_field_names_line_and_field(tmp_path, line, lineno, field):
    path = write(tmp_path, [line])
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    assert err.value.line == lineno and err.value.field == field
    assert f"{path}:{lineno}" in str(err.value)


def test_invalid_json_names_line(tmp_path):
    path = write(tmp_path, ['{"id": "a", "url": "u"}', '{"id": "b", "url": '])
    with pytest.raises(ManifestError, match=r"m.jsonl:2: invalid JSON"):
        read_manifest(path)


def test_parts_cover_the_manifest_exactly_once():
    entries = list(range(11))
    parts = [select_part(entries, f"{i}/3") for i in range(3)]
    assert sorted(x for p in parts for x in p) == entries
    assert parse_part(None) == (0, 1)
    for bad in ("3/3", "a/b", "1", "-1/2"):
        with pytest.raises(ValueError):
            parse_part(bad)


def test_box_is_validated_and_round_trips(tmp_path):
    box = {"top": 0.1, "bottom": 0.6, "left": 0.3, "right": 0.7}
    path = write(tmp_path, [json.dumps({"id": "a", "url": "https://x", "box": box})])
    entries = read_manifest(path)
    assert entries[0].box == box and "box" not in entries[0].extra
    out = tmp_path / "round.jsonl"
    write_manifest(entries, out)
    assert read_manifest(out)[0].box == box
    for bad in ({"top": 0.1, "bottom": 0.6, "left": 0.3}, {**box, "right": 1.5}, {**box, "bottom": 0.05}, [0, 1, 0, 1]):
        path = write(tmp_path, [json.dumps({"id": "a", "url": "https://x", "box": bad})])
        with pytest.raises(ManifestError) as err:
            read_manifest(path)
        assert err.value.field == "box" and err.value.line == 1


def test_relative_paths_resolve_against_the_manifests_folder(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    (folder / "videos").mkdir(parents=True)
    path = folder / "m.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in [
        {"id": "rel", "url": "videos/a.mp4"}, {"id": "abs", "url": "/srv/b.mp4"},
        {"id": "yt", "url": "https://www.youtube.com/watch?v=x"}, {"id": "file", "url": "file:///srv/c.mp4"}]) + "\n")
    monkeypatch.chdir(tmp_path)  # elsewhere than the manifest
    urls = {e.id: e.url for e in read_manifest(path)}
    assert urls == {"rel": str(folder / "videos" / "a.mp4"), "abs": "/srv/b.mp4",
                    "yt": "https://www.youtube.com/watch?v=x", "file": "file:///srv/c.mp4"}
