"""Download stage through yt-dlp on file:// URLs: cache hits, missing sources."""

import subprocess

import pytest

from data_prep.workflow.download import cache_name, download, normalise_url
from data_prep.workflow.drops import Dropped


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "clip.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=30",
                    "-f", "lavfi", "-i", "sine=f=440:sample_rate=44100", "-t", "1", "-c:v", "libx264",
                    "-c:a", "aac", "-shortest", str(path)], check=True)
    return path


def test_downloads_local_file_once(small_video, tmp_path):
    cache = tmp_path / "cache"
    first = download(str(small_video), cache)
    assert first.read_bytes() == small_video.read_bytes()
    assert first.name.startswith(cache_name(small_video.as_uri()))
    first.write_bytes(first.read_bytes() + b"marker")  # a second call must reuse, not refetch
    again = download(small_video.as_uri(), cache)
    assert again == first and again.read_bytes().endswith(b"marker")


def test_missing_file_is_unreachable(tmp_path):
    with pytest.raises(Dropped) as err:
        download(str(tmp_path / "nope.mp4"), tmp_path / "cache")
    assert err.value.reason == "unreachable_url" and err.value.stage == "download"


def test_unsupported_scheme_is_dropped_not_raised(tmp_path):
    with pytest.raises(Dropped) as err:
        download("ftp-nonsense://x/y", tmp_path / "cache", retries=1, backoff=0)
    assert err.value.reason in ("unreachable_url", "download_failed")


def test_normalise_url_makes_paths_absolute(tmp_path):
    assert normalise_url(str(tmp_path / "a b.mp4")) == (tmp_path / "a b.mp4").as_uri()
    assert normalise_url("https://x.org/v") == "https://x.org/v"
