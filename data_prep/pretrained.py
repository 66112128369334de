"""Pretrained parts by hub id, URL or local path: downloaded and cached on first use, a clear error offline.

Every setting that names pretrained weights (the SD VAE, Whisper, LatentSync's
checkpoints, syncnet_v2, the FID Inception) goes through :func:`resolve_pretrained`,
the rule users of diffusers and transformers expect:

- a local file or folder that exists is used as it is;
- ``org/name`` (optionally ``org/name@revision``) is a Hugging Face Hub repo, fetched
  with ``huggingface_hub.snapshot_download`` (only the files asked for) into the
  hub cache, and served from the cache afterwards, offline too;
- ``http(s)://...`` is a single file, fetched once into ``$LIPSYNC_CACHE`` (default
  ``~/.cache/lipsync``) with ``torch.hub.download_url_to_file``.

Offline (``HF_HUB_OFFLINE=1``, or no network) a part that is not cached raises
:class:`PretrainedNotAvailable`, which says what to fetch on a machine with
network access and which local path would serve instead. Tests never touch the
network: they pass local tiny weights.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


class PretrainedNotAvailable(FileNotFoundError):
    """A named pretrained part is neither local nor cached, and could not be downloaded."""


def cache_dir() -> Path:
    return Path(os.environ.get("LIPSYNC_CACHE", Path.home() / ".cache" / "lipsync"))


def resolve_pretrained(name: str | os.PathLike, setting: str, files: list[str] | None = None) -> Path:
    """A local path, hub id or URL -> a local path (folder for a hub repo, file for a URL or a file path).

    ``setting`` names the config key in errors (``model.vae.pretrained``); ``files`` limits a hub
    download to these patterns (``["*.json", "*.safetensors"]``) and is named in the offline error.
    """
    text = str(name)
    path = Path(text).expanduser()
    if path.exists():
        return path
    if text.startswith(("http://", "https://")):
        return _download_url(text, setting)
    if HUB_ID.match(text) and not text.startswith((".", "/")):
        return _download_hub(text, setting, files)
    raise FileNotFoundError(f"{setting}={text!r}: no such file or folder, and not a hub id (org/name) or URL")


def _download_hub(repo: str, setting: str, files: list[str] | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo_id, _, revision = repo.partition("@")
    try:
        return Path(snapshot_download(repo_id, revision=revision or None, allow_patterns=files))
    except (LocalEntryNotFoundError, OSError) as err:
        wanted = " ".join(files or [])
        raise PretrainedNotAvailable(
            f"{setting}={repo!r}: not in the Hugging Face cache and not downloadable here ({type(err).__name__}). "
            f"On a machine with network access run `huggingface-cli download {repo_id} {wanted} --local-dir DIR` "
            f"(or run once online to fill the cache), then pass {setting}=DIR") from None


def _download_url(url: str, setting: str) -> Path:
    import torch

    name = url.rstrip("/").rsplit("/", 1)[-1] or "download"
    target = cache_dir() / hashlib.sha1(url.encode()).hexdigest()[:12] / name
    if target.is_file():
        return target
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise PretrainedNotAvailable(f"{setting}={url!r}: offline (HF_HUB_OFFLINE=1) and not cached at {target}; "
                                     f"download it on a machine with network access and pass {setting}=FILE")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(target), progress=True)
    except OSError as err:
        raise PretrainedNotAvailable(f"{setting}={url!r}: download failed ({err}); download it on a machine with "
                                     f"network access and pass {setting}=FILE") from None
    return target
