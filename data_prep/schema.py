"""The shard sample contract: every key a training shard holds, in one place.

Both sides import this module: ``data_prep`` writes samples with
:func:`encode_sample`, ``lipsync_train`` / ``evaluation`` read them with
:func:`decode_sample` (or decode single keys with the helpers below). Nothing
else in the project spells a key name.

One sample is one clip of an aligned face at 25 fps with 16 kHz mono audio.
In a WebDataset tar, sample ``<key>`` is the group of files ``<key>.<ext>``:

==================  =====================================================================
key (extension)     content
==================  =====================================================================
``frames.mjpeg``    aligned face frames, RGB, ``size x size``, as a raw Motion-JPEG
                    stream: the JPEG files of all frames concatenated in order.
                    ``ffmpeg -f mjpeg -i x.frames.mjpeg`` plays it.
``frames.idx.npy``  int64 ``(T + 1,)`` byte offsets of each JPEG in ``frames.mjpeg``, so a
                    16-frame window decodes 16 JPEGs and nothing else (the format was
                    chosen by ``benchmarks/bench_frame_formats.py``; see README).
``audio.wav``       16 kHz mono signed 16-bit PCM WAV, sample-aligned with the frames
                    (frame ``t`` covers samples ``640 t .. 640 (t + 1)``).
``landmarks.npy``   float16 ``(T, 478, 2)`` mediapipe face-mesh landmarks in the pixel
                    coordinates of the *aligned* frames (temporally smoothed).
``phones.textgrid`` Praat TextGrid (long text format) with tiers ``words`` and
                    ``phones`` in seconds from the clip start; absent when no aligner
                    succeeded (``meta["alignment"]["status"]`` says why).
``phone_ids.npy``   int16 ``(T,)`` index into ``data_prep.phone_inventory.ALL_PHONES`` per frame (-1 silence;
                    Arabic ids are those of ``data_prep.arabic.phoneset.PHONE_SET``, other
                    languages' phones follow); only with ``phones.textgrid``.
``viseme_ids.npy``  int16 ``(T,)`` index into ``data_prep.arabic.visemes.VISEME_CLASSES`` (-1 silence); only with
                    ``phones.textgrid``.
``meta.json``       UTF-8 JSON, fields in :class:`ClipMeta`.
==================  =====================================================================

Sample keys are ``<source id>_<clip index:04d>`` with every character outside
``[A-Za-z0-9_-]`` replaced by ``-`` (WebDataset splits keys at the first dot).
"""

from __future__ import annotations

import io
import json
import re
import wave
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

SCHEMA_VERSION = 1
FPS = 25
SAMPLE_RATE = 16_000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640

FRAMES = "frames.mjpeg"
FRAME_INDEX = "frames.idx.npy"
AUDIO = "audio.wav"
LANDMARKS = "landmarks.npy"
TEXTGRID = "phones.textgrid"  # lower case: WebDataset readers lower-case extensions
PHONE_IDS = "phone_ids.npy"
VISEME_IDS = "viseme_ids.npy"
META = "meta.json"

REQUIRED_KEYS = (FRAMES, FRAME_INDEX, AUDIO, LANDMARKS, META)
OPTIONAL_KEYS = (TEXTGRID, PHONE_IDS, VISEME_IDS)
ALL_KEYS = REQUIRED_KEYS + OPTIONAL_KEYS

SPLITS = ("train", "val", "test")
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class ClipMeta:
    """Everything about a clip that is not an array (``meta.json``)."""

    source_id: str
    clip_index: int
    speaker: str
    split: str  # one of SPLITS
    start: float  # seconds in the normalised source (after the manifest cut)
    end: float
    source_start: float  # the manifest's start (0 when absent), to map back to the download
    n_frames: int
    fps: int = FPS
    sample_rate: int = SAMPLE_RATE
    size: int = 256  # aligned frame side in pixels
    # per frame 2x3 similarity transform mapping source-frame pixels to aligned pixels
    affines: list[list[list[float]]] = field(default_factory=list)
    source_size: tuple[int, int] = (0, 0)  # (width, height) of the normalised source video
    text: str = ""  # transcript as given by the manifest
    lang: str = "ar"
    # audio-visual sync: offset in frames applied to the audio (+: audio was delayed)
    sync: dict[str, Any] = field(default_factory=lambda: {"status": "skipped"})
    # phoneme alignment: {"status": "ok"|"failed"|"skipped", "aligner": "ctc"|"builtin-dtw"|"mfa", "confidence",
    #  "lang", "phone_set": "ar-msa"|"espeak-<lang>", "unaligned_words": [words the G2P / model could not read]}
    alignment: dict[str, Any] = field(default_factory=lambda: {"status": "skipped"})
    # per-clip quality measures (data_prep.workflow.quality): upscale, mouth_sharpness, yaw, pitch, jitter,
    # and which rule chose the speaker's face
    quality: dict[str, Any] = field(default_factory=dict)
    pipeline_version: str = ""
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str | dict) -> "ClipMeta":
        raw = data if isinstance(data, dict) else json.loads(data)
        known = {f for f in cls.__dataclass_fields__}
        meta = cls(**{k: v for k, v in raw.items() if k in known})
        meta.source_size = tuple(meta.source_size)
        return meta


def sample_key(source_id: str, clip_index: int) -> str:
    """The WebDataset key of a clip: dot-free, filesystem-safe, unique per clip."""
    return f"{_UNSAFE_KEY_CHARS.sub('-', source_id)}_{clip_index:04d}"


# --- frames -----------------------------------------------------------------

def encode_frames(frames: np.ndarray, quality: int = 92) -> tuple[bytes, bytes]:
    """(T, H, W, 3) uint8 RGB -> (mjpeg bytes, npy bytes of the offsets)."""
    import cv2

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
    parts, offsets = [], [0]
    for frame in frames:
        ok, jpg = cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        parts.append(jpg.tobytes())
        offsets.append(offsets[-1] + len(parts[-1]))
    return b"".join(parts), encode_npy(np.asarray(offsets, np.int64))


def decode_frames(mjpeg: bytes, index: bytes | np.ndarray, start: int = 0, stop: int | None = None,
                  reduce: int = 1) -> np.ndarray:
    """Decode frames ``start:stop`` only -> (n, H / reduce, W / reduce, 3) uint8 RGB.

    ``reduce`` (1, 2, 4 or 8) lets libjpeg decode at that fraction of the size (DCT
    scaling): a 64 px training face from a 256 px clip costs a 1/4-scale decode,
    several times faster than a full decode followed by a resize.
    """
    import cv2

    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
             8: cv2.IMREAD_REDUCED_COLOR_8}
    if reduce not in flags:
        raise ValueError(f"reduce must be one of {sorted(flags)}, got {reduce}")
    offsets = decode_npy(index) if isinstance(index, (bytes, bytearray)) else index
    n = len(offsets) - 1
    stop = n if stop is None else stop
    if not 0 <= start < stop <= n:
        raise IndexError(f"frame window {start}:{stop} outside clip of {n} frames")
    view = np.frombuffer(mjpeg, np.uint8)
    out = []
    for t in range(start, stop):
        bgr = cv2.imdecode(view[offsets[t]:offsets[t + 1]], flags[reduce])
        if bgr is None:
            raise ValueError(f"corrupt JPEG for frame {t}")
        out.append(bgr[:, :, ::-1])
    return np.ascontiguousarray(np.stack(out))


# --- audio ------------------------------------------------------------------

def encode_wav(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """int16 or float ([-1, 1]) mono samples -> 16-bit PCM WAV bytes."""
    if audio.dtype != np.int16:
        audio = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(audio.tobytes())
    return buf.getvalue()


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """WAV bytes -> (int16 samples, sample rate). Kept as int16: LSE scoring needs the raw values."""
    with wave.open(io.BytesIO(data), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"expected 16-bit mono WAV, got {w.getnchannels()} ch x {8 * w.getsampwidth()} bit")
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).copy(), w.getframerate()


# --- arrays -----------------------------------------------------------------

def encode_npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def decode_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


# --- whole samples ----------------------------------------------------------

@dataclass
class Clip:
    """A decoded sample, as the pipeline builds it and a reader gets it back."""

    frames: np.ndarray  # (T, S, S, 3) uint8 RGB
    audio: np.ndarray  # (T * 640,) int16
    landmarks: np.ndarray  # (T, 478, 2) float
    meta: ClipMeta
    textgrid: str | None = None
    phone_ids: np.ndarray | None = None  # (T,) int16
    viseme_ids: np.ndarray | None = None  # (T,) int16


def encode_sample(clip: Clip, jpeg_quality: int = 92) -> dict[str, Any]:
    """Clip -> WebDataset sample dict (``__key__`` plus one bytes value per key)."""
    t = len(clip.frames)
    if clip.meta.n_frames != t or len(clip.landmarks) != t:
        raise ValueError(f"{clip.meta.source_id}: frames ({t}), landmarks ({len(clip.landmarks)}) and "
                         f"meta.n_frames ({clip.meta.n_frames}) disagree")
    if len(clip.audio) != t * SAMPLES_PER_FRAME:
        raise ValueError(f"{clip.meta.source_id}: audio has {len(clip.audio)} samples, expected {t * SAMPLES_PER_FRAME}")
    mjpeg, index = encode_frames(clip.frames, jpeg_quality)
    sample = {
        "__key__": sample_key(clip.meta.source_id, clip.meta.clip_index),
        FRAMES: mjpeg,
        FRAME_INDEX: index,
        AUDIO: encode_wav(clip.audio),
        LANDMARKS: encode_npy(clip.landmarks.astype(np.float16)),
        META: clip.meta.to_json(),
    }
    if clip.textgrid is not None:
        sample[TEXTGRID] = clip.textgrid.encode("utf-8")
    if clip.phone_ids is not None:
        sample[PHONE_IDS] = encode_npy(clip.phone_ids.astype(np.int16))
    if clip.viseme_ids is not None:
        sample[VISEME_IDS] = encode_npy(clip.viseme_ids.astype(np.int16))
    return sample


def decode_sample(sample: dict[str, Any]) -> Clip:
    """WebDataset sample dict (raw bytes values) -> Clip, decoding every frame."""
    missing = [k for k in REQUIRED_KEYS if k not in sample]
    if missing:
        raise KeyError(f"sample {sample.get('__key__')!r} lacks keys {missing}")
    audio, rate = decode_wav(sample[AUDIO])
    if rate != SAMPLE_RATE:
        raise ValueError(f"sample {sample.get('__key__')!r}: audio at {rate} Hz, expected {SAMPLE_RATE}")
    return Clip(
        frames=decode_frames(sample[FRAMES], sample[FRAME_INDEX]),
        audio=audio,
        landmarks=decode_npy(sample[LANDMARKS]),
        meta=ClipMeta.from_json(sample[META]),
        textgrid=sample[TEXTGRID].decode("utf-8") if TEXTGRID in sample else None,
        phone_ids=decode_npy(sample[PHONE_IDS]) if PHONE_IDS in sample else None,
        viseme_ids=decode_npy(sample[VISEME_IDS]) if VISEME_IDS in sample else None,
    )
