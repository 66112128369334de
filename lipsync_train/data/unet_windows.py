"""UNet training windows from the same shards and the same streaming machinery as the SyncNet pairs.

The training core's :class:`~lipsync_train.data.datamodule.SyncPairDataModule`
already solves sharding across ranks and workers, fixed batch counts per rank
and epoch seeding; this module only swaps what one sample is. A UNet window is:

- ``video`` (T, 3, S, S) uint8: the frames to reproduce (full aligned faces);
- ``reference`` (T, 3, S, S) uint8: frames of the *same clip* from a window at
  least T frames away when the clip allows (identity without the answer), as LatentSync does;
- ``frame_start``, ``reference_start``: where the two windows start in the clip
  (for the latent cache, ``lipsync_train/modules/latent_cache.py``);
- ``sync_audio`` (F, L) float32: the SyncNet expert's audio window, of the expert's feature kind
  (``data.audio_kind``: ``mel`` for ours, ``latentsync_mel`` for LatentSync's StableSyncNet;
  see ``data_prep/audio_features.py``);
- the audio encoder's window inputs, made by ``data.audio_inputs`` (the
  encoder's loader-side feature maker, see ``networks/audio_encoder.py``); for
  Whisper: ``whisper_mel``, the log-mel of the encoder chunk that holds the
  window, with ``audio_first_frame`` and ``audio_valid_frames``.

The audio encoder itself runs in the LightningModule (frozen, no grad): the
loader stays light and the same encoder weights serve training and inference.

``data.audio_from=other_clip`` is the recipe's null control: every clip's audio
is replaced by another speaker's clip (:func:`with_other_clips_audio`) before
any window is cut, so the model trains on the same frames, seeds and budget
with audio that says nothing about the mouth. Whatever sync its generations
then show is what the acceptance bounds must exclude.
"""

from __future__ import annotations

import json
import logging
import random
import zlib
from collections import deque
from functools import partial
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
import webdataset as wds

from data_prep import schema
from lipsync_train.data.datamodule import PairList, SyncPairDataModule, SyncPairStream
from data_prep.shard_index import read_split
from data_prep.window_spec import WindowSpec
from lipsync_train.data.windows import ClipWindows
from lipsync_train.networks.audio_encoder import DEFAULT_AUDIO_INPUTS, build_window_inputs

log = logging.getLogger(__name__)


def collate_windows(items: list[dict[str, Any]]) -> dict[str, Any]:
    """List of window dicts -> batch dict: ``key`` list, every other field stacked into a tensor."""
    batch: dict[str, Any] = {"key": [w["key"] for w in items]}
    for name in items[0]:
        if name != "key":
            batch[name] = torch.as_tensor(np.stack([np.asarray(w[name]) for w in items]))
    return batch


def reference_start(start: int, n_starts: int, length: int, rng: random.Random) -> int:
    """A window start at least ``length`` frames from ``start`` if the clip has one, else any other start."""
    far = [s for s in range(n_starts) if abs(s - start) >= length]
    near = [s for s in range(n_starts) if s != start]
    return rng.choice(far or near or [start])


def unet_window(clip: ClipWindows, audio: np.ndarray, start: int, audio_inputs: Callable[..., dict[str, Any]],
                rng: random.Random) -> dict[str, Any]:
    ref = reference_start(start, clip.n_starts, clip.spec.n_frames, rng)
    return {"key": clip.key, "video": clip.video(start), "reference": clip.video(ref),
            "frame_start": start, "reference_start": ref,
            "sync_audio": clip.audio(start), **audio_inputs(audio, clip.n_frames, start, clip.spec.n_frames, rng)}


AUDIO_FROM = ("own", "other_clip")


def _speaker_and_text(sample: dict[str, Any]) -> tuple[str, str]:
    meta = json.loads(sample[schema.META]) if schema.META in sample else {}
    return meta.get("speaker", ""), meta.get("text", "")


def with_other_clips_audio(samples: Iterable[dict[str, Any]], recent: int = 8) -> Iterator[dict[str, Any]]:
    """The null control's samples: each one's ``audio.wav`` is a recent earlier sample's, repeated or cut to its
    own length. The donor is the latest one of another speaker (else with another transcript, else the latest),
    so the same voice saying the same sentence cannot leak the true audio back in. The stream's first sample
    has no donor yet and is held back until the second one arrives (it then takes the second one's audio)."""
    donors: deque[dict[str, Any]] = deque(maxlen=recent)
    held: dict[str, Any] | None = None
    for sample in samples:
        if held is None and not donors:
            held = sample
            donors.append(sample)
            continue
        yield _with_audio_of(sample, _donor(sample, donors))
        if held is not None:
            yield _with_audio_of(held, sample)
            held = None
        donors.append(sample)


def _donor(sample: dict[str, Any], donors: deque[dict[str, Any]]) -> dict[str, Any]:
    speaker, text = _speaker_and_text(sample)
    others = list(reversed(donors))
    for fits in (lambda d: _speaker_and_text(d)[0] != speaker, lambda d: _speaker_and_text(d)[1] != text):
        found = next((d for d in others if fits(d)), None)
        if found is not None:
            return found
    return others[0]


def _with_audio_of(sample: dict[str, Any], donor: dict[str, Any]) -> dict[str, Any]:
    own, rate = schema.decode_wav(sample[schema.AUDIO])
    theirs, _ = schema.decode_wav(donor[schema.AUDIO])
    return {**sample, schema.AUDIO: schema.encode_wav(np.resize(theirs, len(own)).astype(np.int16), rate)}


def sample_unet_windows(samples: Iterable[dict[str, Any]], spec: WindowSpec, windows_per_clip: int,
                        audio_inputs: Callable[..., dict[str, Any]], rng: random.Random,
                        audio_from: str = "own") -> Iterator[dict[str, Any]]:
    """Shard samples -> ``windows_per_clip`` random UNet windows each (clips shorter than a window are skipped).

    ``audio_from="other_clip"``: the null control (:func:`with_other_clips_audio`)."""
    if audio_from not in AUDIO_FROM:
        raise ValueError(f"data.audio_from={audio_from!r}: expected one of {AUDIO_FROM}")
    if audio_from == "other_clip":
        samples = with_other_clips_audio(samples)
    skipped = 0
    for sample in samples:
        clip = ClipWindows(sample, spec)
        if clip.n_starts < 1:
            skipped += 1
            if skipped in (1, 100, 1000):
                log.warning("%d clip(s) shorter than %d frames skipped (latest %s)", skipped, spec.n_frames, clip.key)
            continue
        audio, _ = schema.decode_wav(sample[schema.AUDIO])
        for _ in range(windows_per_clip):
            yield unet_window(clip, audio, rng.randrange(clip.n_starts), audio_inputs, rng)
        clip._cache.clear()


class UNetWindowStream(SyncPairStream):
    """The SyncNet pair stream's sharding and batch counting, yielding UNet windows instead of pairs."""

    def __init__(self, urls: list[str], spec: WindowSpec, batch_size: int, batches_per_rank: int,
                 windows_per_clip: int, shuffle_buffer: int, seed: int, audio_inputs: Callable[..., dict[str, Any]],
                 audio_from: str = "own"):
        super().__init__(urls, spec, batch_size, batches_per_rank, windows_per_clip, 0, 0.0, shuffle_buffer, seed)
        self.audio_inputs, self.audio_from = audio_inputs, audio_from

    def sample_stage(self, rng: random.Random):
        return partial(sample_unet_windows, spec=self.spec, windows_per_clip=self.windows_per_clip,
                       audio_inputs=self.audio_inputs, rng=rng, audio_from=self.audio_from)

    @staticmethod
    def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_windows(items)


class UNetWindowDataModule(SyncPairDataModule):
    """Train/val UNet windows from a ``lipsync-prep`` shard directory (``shards``)."""

    def __init__(self, shards: str, batch_size: int = 4, num_workers: int = 1, batches_per_epoch: int = 100,
                 n_frames: int = 16, image_size: int = 64, audio_kind: str = "mel", n_audio_bins: int = 80,
                 audio_inputs: dict[str, Any] | None = None, windows_per_clip: int = 4, shuffle_buffer: int = 64,
                 val_windows_per_clip: int = 1, val_max_windows: int = 32, val_split: str = "val", seed: int = 0,
                 pin_memory: bool = False, audio_from: str = "own"):
        super().__init__(shards=shards, batch_size=batch_size, num_workers=num_workers,
                         batches_per_epoch=batches_per_epoch, n_frames=n_frames, image_size=image_size, crop="full",
                         audio_kind=audio_kind, n_audio_bins=n_audio_bins, windows_per_clip=windows_per_clip,
                         shuffle_buffer=shuffle_buffer, val_split=val_split, seed=seed, pin_memory=pin_memory)
        if audio_from not in AUDIO_FROM:
            raise ValueError(f"data.audio_from={audio_from!r}: expected one of {AUDIO_FROM}")
        self.unet_hparams = dict(audio_inputs=audio_inputs, val_windows_per_clip=val_windows_per_clip,
                                 val_max_windows=val_max_windows, audio_from=audio_from)
        # null: the model's audio encoder says what its windows need (set in setup, once a trainer holds it)
        self.audio_inputs = build_window_inputs(audio_inputs) if audio_inputs else None

    def _model_audio_inputs(self) -> Callable[..., dict[str, Any]]:
        model = self.trainer.lightning_module if self.trainer is not None else None
        encoder = getattr(model, "audio_encoder", None)
        if encoder is None:
            raise ValueError("data.audio_inputs is null, so the windows' audio inputs come from the model's audio "
                             "encoder, but this data module is not attached to a trainer with one; set "
                             f"data.audio_inputs (e.g. {DEFAULT_AUDIO_INPUTS})")
        return encoder.window_inputs()

    def setup(self, stage: str | None = None) -> None:
        h, u = self.hparams, self.unet_hparams
        if self.audio_inputs is None:
            self.audio_inputs = self._model_audio_inputs()
        if self.train_set is None and stage in (None, "fit"):
            train = read_split(h.shards, "train")
            self.train_set = UNetWindowStream(train.paths, self.spec, h.batch_size, h.batches_per_epoch,
                                              h.windows_per_clip, h.shuffle_buffer, h.seed, self.audio_inputs,
                                              u["audio_from"])
            log.info("train: %d shards, %d clips, %d batches of %d windows per rank and epoch",
                     len(train.paths), train.samples, h.batches_per_epoch, h.batch_size)
        if self.val_set is None and stage in (None, "fit", "validate"):
            val = read_split(h.shards, h.val_split)
            windows = []
            for sample in wds.DataPipeline(wds.SimpleShardList(val.paths), wds.tarfile_to_samples()):
                rng = random.Random(zlib.crc32(f"{h.seed}/{sample['__key__']}".encode()))
                windows += list(sample_unet_windows([sample], self.spec, u["val_windows_per_clip"], self.audio_inputs, rng))
                if len(windows) >= u["val_max_windows"]:
                    break
            if not windows:
                raise ValueError(f"data.shards={h.shards!r}: split {h.val_split!r} gave no validation windows "
                                 f"(clips shorter than {h.n_frames} frames?)")
            self.val_set = PairList(windows[:u["val_max_windows"]])
            log.info("%s: %d fixed windows from %d shards", h.val_split, len(self.val_set), len(val.paths))

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        h = self.hparams
        return torch.utils.data.DataLoader(self.val_set, batch_size=h.batch_size, shuffle=False, num_workers=0,
                                           collate_fn=collate_windows, pin_memory=h.pin_memory)
