"""The hub-or-path rule for pretrained parts: local paths as they are, hub ids and URLs from the cache, and offline
a clear error that names what to fetch and the setting that takes a local copy (tests never reach a network)."""

from __future__ import annotations

import hashlib

import pytest

from data_prep.pretrained import PretrainedNotAvailable, resolve_pretrained


def test_local_paths_are_used_as_they_are(tmp_path):
    (tmp_path / "w.pt").write_bytes(b"x")
    assert resolve_pretrained(tmp_path / "w.pt", "model.x") == tmp_path / "w.pt"
    assert resolve_pretrained(str(tmp_path), "model.x") == tmp_path


def test_offline_hub_id_names_the_download_command_and_the_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(PretrainedNotAvailable) as err:
        resolve_pretrained("stabilityai/sd-vae-ft-mse", "model.vae.pretrained", ["config.json"])
    message = str(err.value)
    assert "huggingface-cli download stabilityai/sd-vae-ft-mse config.json" in message
    assert "model.vae.pretrained=DIR" in message


def test_urls_are_served_from_the_cache_and_refused_offline_when_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("LIPSYNC_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    url = "https://example.org/weights/pt_inception.pth"
    with pytest.raises(PretrainedNotAvailable, match="inception_weights=FILE"):
        resolve_pretrained(url, "inception_weights")
    cached = tmp_path / hashlib.sha1(url.encode()).hexdigest()[:12] / "pt_inception.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"w")
    assert resolve_pretrained(url, "inception_weights") == cached


def test_a_missing_local_path_is_not_mistaken_for_a_hub_id(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        resolve_pretrained(tmp_path / "nope" / "vae", "model.vae.pretrained")
    with pytest.raises(FileNotFoundError, match="no such file"):
        resolve_pretrained("./weights/vae", "model.vae.pretrained")
