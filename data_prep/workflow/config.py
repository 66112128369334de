"""Typed schema of ``conf/data_prep.yaml``: a typo or a wrong type fails before any work.

Registered in Hydra's ConfigStore as ``data_prep_schema`` and listed first in
the YAML's defaults, so ``lipsync-prep workrs=4`` stops with "Key 'workrs' not
in 'PrepConfig'" and ``workers=four`` with a type error, both naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from data_prep.phonemes import DEFAULT_MIN_CONFIDENCE
from data_prep.workflow.sync_filter import DEFAULT_SCORER_LOADER, SYNCNET_V2_URL


@dataclass
class DownloadConfig:
    cache_dir: str = "${out_dir}/cache/downloads"
    retries: int = 3
    # up to 1080p in either orientation: a portrait 1080x1920 upload must not come down as 404x720
    format: str = "bestvideo[height<=1920][width<=1920]+bestaudio/best[height<=1920][width<=1920]/best"


@dataclass
class NormaliseConfig:
    # faces are warped from these frames, so keep native pixels: only a short side over
    # max_short_side (4K) is scaled down; max_height (0 = off) is an optional explicit cap
    max_height: int = 0
    max_short_side: int = 1080
    min_seconds: float = 1.0  # shorter sources are dropped as too_short
    silence_dbfs: float = -50.0  # RMS level of the whole track below which it counts as silence


@dataclass
class ShotsConfig:
    threshold: float = 27.0  # PySceneDetect ContentDetector threshold
    min_shot_frames: int = 12


@dataclass
class ClipsConfig:
    seconds: float = 5.0  # clip length
    min_seconds: float = 2.0  # shortest clip kept (segment tails included)


@dataclass
class FacesConfig:
    min_face_size: float = 64.0  # pixels in the normalised video
    max_side: int = 480  # landmarking runs on frames downscaled to this side
    min_detection_confidence: float = 0.5
    smooth_window: int = 5  # frames, landmark smoothing
    counter_model: int = 1  # BlazeFace face counter: 1 full range (finds small second faces), 0 short range
    active_speaker: bool = True  # follow one face through several-face frames (data_prep/workflow/active_speaker.py)


@dataclass
class AlignConfig:
    size: int = 256  # aligned face side in pixels
    smooth_window: int = 5  # frames, smoothing of the similarity transforms
    # mesh (this project's face template) | latentsync (LatentSync's crop: to fine-tune its released weights)
    template: str = "mesh"
    jpeg_quality: int = 92


@dataclass
class QualityConfig:
    """Per-clip filters (data_prep/workflow/quality.py); each drop has its own reason."""

    max_upscale: Optional[float] = None  # None: 1.0 for align.size 256, 1.5 for 512 (face_too_small)
    min_mouth_sharpness: float = 50.0  # Laplacian variance of the mouth at 256 px (blurry)
    max_yaw: float = 40.0  # degrees (profile)
    max_pitch: float = 30.0  # degrees (profile)
    max_jitter: float = 0.03  # eye-corner distances (jittery)


@dataclass
class PhonemesConfig:
    aligner: str = "auto"  # auto (mfa if set up, else ctc if its weights are here, else builtin) | ctc | builtin | none
    # builtin-dtw: the transcript's phones against shuffled orders of them and a free loop over them, scored on
    # phonet's phone posteriors (data_prep/arabic/posterior_margin.py); 0.35 sits at a relative margin of 0.20 and a
    # per-frame one of 0.10. On 13 real recordings of people speaking MSA and six dialects
    # (benchmarks/bench_real_speech.py, README) it accepts 92% of right transcripts and 3.1% of wrong ones; Quran
    # recitation (18 verses, some 8 kHz) fails it (1 of 18)
    min_confidence: float = DEFAULT_MIN_CONFIDENCE  # 0.35; make_aligner() and BuiltinAligner() default to it too
    # the phone model that judges built-in alignments: "phonet" (the installed package's weights) or a folder
    # holding phonemes.hdf5, mu.npy, std.npy; null (or "phonet" not installed) = the coarse-DTW margin.
    # It judges every language whose phones are in data_prep/arabic/posterior_margin.PHONE_TO_PHONET
    posterior_model: Optional[str] = "phonet"
    # keep a source whose transcript could not be aligned: its clips carry no phonemes and say why
    # (meta "alignment": {"status": "failed", "reason": ...}); true drops it as alignment_failed
    drop_failed: bool = False
    diacritizer: str = "text2tashkeel"  # text2tashkeel | mishkal | none (transcript already diacritised)
    mfa_acoustic_model: Optional[str] = None
    mfa_dictionary: Optional[str] = None
    # the CTC aligner's model: hub id or local folder (data_prep/ctc_aligner.py); null = never use it
    ctc_model: Optional[str] = "MahmoudAshraf/mms-300m-1130-forced-aligner"
    # converter marks (manifest ``marks``) whose transcript is not aligned: the clip is kept without phonemes
    skip_marks: list[str] = field(default_factory=lambda: ["text_too_fast"])


@dataclass
class SyncConfig:
    # the sync expert: syncnet_v2's published weights by URL (fetched once), a local file, or a lipsync-train
    # SyncNet checkpoint; null, or offline without a cached copy, skips the stage loudly (index.json says so)
    ckpt: Optional[str] = SYNCNET_V2_URL
    # the function that turns ``ckpt`` into a scorer with ``av_offset``; named, not imported, because the
    # scorer lives on a higher floor (lipsync_train) than the dataset workflow
    scorer_loader: str = DEFAULT_SCORER_LOADER
    min_confidence: float = 3.0  # LatentSync's thresholds (preprocess/sync_av.py), on syncnet_v2's scale
    max_abs_offset: int = 6
    search_offset: int = 15
    apply_shift: bool = True


@dataclass
class ShardsConfig:
    max_samples: int = 200
    max_megabytes: float = 512.0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0


@dataclass
class PrepConfig:
    manifest: str = MISSING
    out_dir: str = MISSING
    workers: int = 1
    part: Optional[str] = None  # "I/N": process every N-th source from I (SLURM arrays)
    merge_only: bool = False  # combine finished parts into index.json / dropped.jsonl
    keep_intermediate: bool = False
    progress: bool = True
    download: DownloadConfig = field(default_factory=DownloadConfig)
    normalise: NormaliseConfig = field(default_factory=NormaliseConfig)
    shots: ShotsConfig = field(default_factory=ShotsConfig)
    clips: ClipsConfig = field(default_factory=ClipsConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    phonemes: PhonemesConfig = field(default_factory=PhonemesConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    shards: ShardsConfig = field(default_factory=ShardsConfig)


def register() -> None:
    ConfigStore.instance().store(name="data_prep_schema", node=PrepConfig)
