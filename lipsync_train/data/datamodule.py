"""LightningDataModule of SyncNet pairs streamed from WebDataset shards, correct under DDP and workers.

Training stream (:class:`SyncPairStream`, an ``IterableDataset``):

- shards are split first by rank, then by worker (``urls[rank::world][worker::workers]``),
  so no two (rank, worker) streams read the same clip; we need at least
  ``world_size x num_workers`` shards and say so if there are fewer;
- each stream cycles over its shards forever in an order shuffled with a seed made of
  ``(seed, rank, worker, epoch)``, and is cut to a fixed number of batches: the rank's
  ``batches_per_epoch`` divided among its workers (the ``with_epoch`` idea, counted per
  worker). Every rank therefore yields exactly ``batches_per_epoch`` batches, which DDP
  needs (a rank that runs out first would hang the others in all-reduce);
- the stages are webdataset's: ``tarfile_to_samples`` -> pair sampling -> ``shuffle`` -> ``batched``.

Validation is a fixed in-memory list of pairs (:func:`fixed_val_pairs`); it is a
map-style dataset, so Lightning's DistributedSampler splits it evenly across ranks.
"""

from __future__ import annotations

import itertools
import logging
import random
from functools import partial
from typing import Any, Callable, Iterator

import numpy as np
import pytorch_lightning as pl
import torch
import webdataset as wds
from torch.utils.data import DataLoader, Dataset, IterableDataset

from data_prep.shard_index import face_template, read_index, read_split
from data_prep.window_spec import WindowSpec
from lipsync_train.data.windows import fixed_val_pairs, sample_train_pairs

log = logging.getLogger(__name__)


def collate_pairs(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """List of pair dicts -> batch: key list, video (B, T, 3, h, w) uint8, audio (B, F, L), label (B,), ..."""
    batch: dict[str, Any] = {"key": [p["key"] for p in pairs]}
    for name in pairs[0]:
        if name != "key":
            batch[name] = torch.as_tensor(np.stack([np.asarray(p[name]) for p in pairs]))
    batch["label"] = batch["label"].float()
    return batch


class SyncPairStream(IterableDataset):
    """Endless pair stream of this rank's shards, cut to ``batches_per_rank`` batches per pass."""

    def __init__(self, urls: list[str], spec: WindowSpec, batch_size: int, batches_per_rank: int,
                 windows_per_clip: int, min_shift: int, p_other_clip: float, shuffle_buffer: int, seed: int):
        super().__init__()
        self.urls, self.spec, self.batch_size = list(urls), spec, batch_size
        self.batches_per_rank, self.windows_per_clip = batches_per_rank, windows_per_clip
        self.min_shift, self.p_other_clip, self.shuffle_buffer, self.seed = min_shift, p_other_clip, shuffle_buffer, seed
        self.epoch = 0  # set by EpochDataLoader in the rank's main process, before workers start
        self.rank_world: tuple[int, int] | None = None  # likewise: worker processes cannot ask torch.distributed

    def __len__(self) -> int:
        return self.batches_per_rank

    def _my_shards(self, rank: int, world: int, worker: int, workers: int) -> list[str]:
        mine = self.urls[rank::world][worker::workers]
        if len(self.urls) < world * workers:  # checked on every rank, so all ranks fail alike (no hang)
            raise ValueError(f"{len(self.urls)} train shards cannot feed {world} rank(s) x {workers} worker(s) "
                             f"disjointly; write at least {world * workers} shards or lower data.num_workers")
        return mine

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rank, world, worker, workers = wds.utils.pytorch_worker_info()
        if self.rank_world is not None:
            rank, world = self.rank_world
        shards = self._my_shards(rank, world, worker, workers)
        n_batches = self.batches_per_rank // workers + (worker < self.batches_per_rank % workers)
        rng = random.Random(f"{self.seed}/{rank}/{worker}/{self.epoch}")

        def shard_cycle() -> Iterator[dict[str, str]]:
            while True:
                order = shards[:]
                rng.shuffle(order)
                yield from ({"url": url} for url in order)

        pipeline = wds.DataPipeline(
            shard_cycle,
            wds.tarfile_to_samples(),
            self.sample_stage(rng),
            wds.shuffle(self.shuffle_buffer, initial=self.shuffle_buffer // 2, rng=random.Random(rng.random())),
            wds.batched(self.batch_size, collation_fn=self.collate, partial=False),
        )
        yield from itertools.islice(iter(pipeline), n_batches)

    def sample_stage(self, rng: random.Random):
        """The pipeline stage turning decoded clips into training items (subclasses yield other items)."""
        return partial(sample_train_pairs, spec=self.spec, windows_per_clip=self.windows_per_clip,
                       min_shift=self.min_shift, p_other_clip=self.p_other_clip, rng=rng)

    @staticmethod
    def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_pairs(items)


class EpochDataLoader(DataLoader):
    """DataLoader that tells its stream the epoch and the DDP rank before starting workers.

    Both must be read in the rank's own process: a worker process sees neither the
    trainer's epoch nor (under ``ddp_spawn``) an initialised process group, and would
    silently read every shard as if it were rank 0 of 1.
    """

    def __init__(self, *args: Any, epoch_fn: Callable[[], int] = lambda: 0,
                 rank_fn: Callable[[], tuple[int, int] | None] = lambda: None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.epoch_fn, self.rank_fn = epoch_fn, rank_fn

    def __iter__(self):
        self.dataset.epoch = self.epoch_fn()
        self.dataset.rank_world = self.rank_fn()
        return super().__iter__()


class PairList(Dataset):
    """A fixed list of pair dicts as a map-style dataset."""

    def __init__(self, pairs: list[dict[str, Any]]):
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.pairs[i]


def data_face_template(datamodule: Any, model_template: str, init_from: str | None) -> str:
    """The crop a run trains on: its shards' (``align.template``), with a loud warning when a model initialised from
    ``init_from`` was trained on another crop (LatentSync's weights want ``lipsync-prep align.template=latentsync``)."""
    try:
        data_template = datamodule.face_template
    except (AttributeError, FileNotFoundError):  # a datamodule without shards (tests, custom data)
        return model_template
    if init_from and data_template != model_template:
        log.warning("model.init_from=%s was trained on %r face crops but data.shards holds %r crops; the model will "
                    "have to relearn the framing (prep the shards with align.template=%s to keep it)", init_from,
                    model_template, data_template, model_template)
    return data_template


class SyncPairDataModule(pl.LightningDataModule):
    """Train/val SyncNet pairs from a ``lipsync-prep`` shard directory (``shards``)."""

    def __init__(self, shards: str, batch_size: int = 32, num_workers: int = 2, batches_per_epoch: int = 100,
                 n_frames: int = 16, image_size: int = 64, crop: str = "lower_half", channel_order: str = "rgb",
                 audio_kind: str = "mel", n_audio_bins: int = 80, windows_per_clip: int = 8, min_shift: int = 3,
                 p_other_clip: float = 0.3, shuffle_buffer: int = 256, val_windows_per_clip: int = 4,
                 val_max_pairs: int = 512, val_split: str = "val", max_offset: int = 15, seed: int = 0,
                 pin_memory: bool = False):
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.spec = WindowSpec(n_frames, image_size, crop, channel_order, audio_kind, n_audio_bins)
        if not 0 <= p_other_clip <= 1:
            raise ValueError(f"data.p_other_clip={p_other_clip}: expected a probability in [0, 1]")
        self.train_set: SyncPairStream | None = None
        self.val_set: PairList | None = None

    @property
    def face_template(self) -> str:
        """The crop of the shards' faces (index.json ``align.template``), recorded in the trained checkpoint."""
        return face_template(read_index(self.hparams.shards))

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        if self.train_set is None and stage in (None, "fit"):
            train = read_split(h.shards, "train")
            self.train_set = SyncPairStream(train.paths, self.spec, h.batch_size, h.batches_per_epoch,
                                            h.windows_per_clip, h.min_shift, h.p_other_clip, h.shuffle_buffer, h.seed)
            log.info("train: %d shards, %d clips, %d batches of %d per rank and epoch",
                     len(train.paths), train.samples, h.batches_per_epoch, h.batch_size)
        if self.val_set is None and stage in (None, "fit", "validate"):
            val = read_split(h.shards, h.val_split)
            samples = wds.DataPipeline(wds.SimpleShardList(val.paths), wds.tarfile_to_samples())
            pairs = fixed_val_pairs(samples, self.spec, h.val_windows_per_clip, h.min_shift, h.max_offset,
                                    h.seed, h.val_max_pairs)
            if not pairs:
                raise ValueError(f"data.shards={h.shards!r}: split {h.val_split!r} gave no validation pairs "
                                 f"(clips shorter than {h.n_frames + h.min_shift} frames?)")
            self.val_set = PairList(pairs)
            log.info("%s: %d fixed pairs from %d shards", h.val_split, len(pairs), len(val.paths))

    def _epoch(self) -> int:
        """The epoch whose data the train stream yields: ``trainer.current_epoch``, or the batches this rank
        has run // batches per epoch when that is larger. They agree at every epoch start, except right after
        resuming from a checkpoint written at an epoch's last batch (``last.ckpt`` every N steps), where
        Lightning makes the loader before it counts that epoch as done and would replay its data."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0
        done = trainer.fit_loop.epoch_loop.batch_progress.total.processed
        return max(trainer.current_epoch, done // self.hparams.batches_per_epoch)

    def _rank_world(self) -> tuple[int, int] | None:
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else None

    def train_dataloader(self) -> DataLoader:
        h = self.hparams
        return EpochDataLoader(self.train_set, batch_size=None, num_workers=h.num_workers, pin_memory=h.pin_memory,
                               epoch_fn=self._epoch, rank_fn=self._rank_world, persistent_workers=False)

    def val_dataloader(self) -> DataLoader:
        h = self.hparams
        return DataLoader(self.val_set, batch_size=h.batch_size, shuffle=False, num_workers=0,
                          collate_fn=collate_pairs, pin_memory=h.pin_memory)
