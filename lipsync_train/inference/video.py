"""Lip-sync a whole video: faces -> aligned crops -> generated mouths -> pasted back -> mp4 with the new audio.

Steps of :func:`lipsync_video`:

1. the output has one frame per 40 ms of audio; source frames are reused by
   ping-pong looping (0 1 2 .. n-1 n-2 .. 1 0 1 ..), or plain looping, when
   the audio is longer than the source; a single image is a one-frame source;
2. faces are tracked with the dataset pipeline's own tracker and aligned with
   its template (``data_prep.faces`` / ``data_prep.face_align``) at the model's
   image size, so inference crops look exactly like training crops;
3. each frame's reference (the identity the model copies, never the mouth it
   must draw) is the source frame half the source away (:func:`reference_indices`),
   as training takes references from a window at least 16 frames away;
   ``reference="same"`` passes the frame itself, as LatentSync's inference
   does, which hands the model the source mouth;
4. audio tokens are computed one Whisper chunk at a time and faces generated
   ``chunk_frames`` at a time, and each finished frame is written out at once:
   memory stays flat however long the audio is;
5. the generated crop is pasted back through the inverse of the frame's
   transform with a feathered mouth mask (:func:`paste_mouth`); frames where no
   single face was found pass through unchanged and are counted.

A single image (a one-frame source) is fitted to the model's resolution and
given small natural head motion (:mod:`lipsync_train.inference.still_image`;
``still_fit`` / ``still_motion`` turn either off); blinks are not synthesised.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from data_prep.face_align import align, paste_back, track_affines
from data_prep.schema import SAMPLES_PER_FRAME
from data_prep.media import VideoSink, mux, write_wav
from lipsync_train.inference.pipeline import LipSyncPipeline
from lipsync_train.inference.still_image import fit_photo_to_model, moved_frame, natural_head_motion
from data_prep.mouth_mask import MouthRegion, mouth_mask

log = logging.getLogger(__name__)
FACE_BATCH = 750  # frames aligned, generated and pasted per pass (30 s): bounds memory on long videos


@dataclass
class LipSyncResult:
    out: Path
    n_frames: int
    frames_without_face: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.n_frames / max(self.seconds, 1e-9)


def source_indices(n_source: int, n_out: int, mode: str = "pingpong") -> np.ndarray:
    """Which source frame each output frame shows: ``pingpong`` (forth and back), ``loop`` or ``hold`` (last)."""
    t = np.arange(n_out)
    if n_source == 1:
        return np.zeros(n_out, np.int64)
    if mode == "pingpong":
        period = 2 * (n_source - 1)
        k = t % period
        return np.where(k < n_source, k, period - k)
    if mode == "loop":
        return t % n_source
    if mode == "hold":
        return np.minimum(t, n_source - 1)
    raise ValueError(f"loop={mode!r}: expected 'pingpong', 'loop' or 'hold'")


def reference_indices(n: int, has_face: np.ndarray | None = None, mode: str = "shifted") -> np.ndarray:
    """For each of ``n`` frames, the frame whose face serves as its reference.

    ``shifted``: the frame half the clip away (circularly, so every distance is >= n // 2), moved to the
    nearest frame with a face when ``has_face`` (n,) says it has none; ``same``: the frame itself.
    """
    t = np.arange(n)
    if mode == "same" or n == 1:
        return t
    if mode != "shifted":
        raise ValueError(f"reference={mode!r}: expected 'shifted' or 'same'")
    ref = (t + n // 2) % n
    if has_face is not None and has_face.any() and not has_face[ref].all():
        found = np.flatnonzero(has_face)
        ref = found[np.abs(ref[:, None] - found[None, :]).argmin(1)]
    return ref


def paste_mouth(frame: np.ndarray, face: np.ndarray, affine: np.ndarray, region: MouthRegion | None = None,
                feather: int = 3, mask: np.ndarray | None = None) -> np.ndarray:
    """Blend the mouth region of an aligned ``face`` (S, S, 3) back into ``frame`` (H, W, 3) with a soft edge.

    ``mask`` (S, S), 1 = generated, is the model's own mask; without it the ``region`` box."""
    mask = mouth_mask(face.shape[0], region) if mask is None else mask
    return paste_back(frame, face, affine, mask=mask, feather=feather)


def lipsync_video(pipeline: LipSyncPipeline, frames: np.ndarray, audio: np.ndarray, out: str | Path,
                  affines: np.ndarray | None = None, num_steps: int = 20, guidance_scale: float = 1.5,
                  chunk_frames: int = 16, loop: str = "pingpong", seed: int = 0, feather: int = 3,
                  reference: str = "shifted", still_fit: bool = True, still_motion: bool = True,
                  progress: Any = None, face_template: str | None = None) -> LipSyncResult:
    """Source frames (n, H, W, 3) RGB at 25 fps + (N,) int16 16 kHz audio -> mp4 at ``out`` with the audio muxed.

    ``affines`` (n, 2, 3), NaN for frames without a face, skips face tracking (tests, precomputed tracks).
    ``face_template``: the crop faces are tracked into (``data_prep.face_align``: ``mesh`` | ``latentsync``);
    None = the checkpoint's (``latentsync`` for converted LatentSync weights, else ``mesh``).
    ``progress``: an object with ``update(n_frames)``, told as each chunk of faces is generated; without it the
    terminal bar moves per generated chunk (a full-size model on CPU takes minutes per chunk).
    """
    t0 = time.perf_counter()
    size = pipeline.image_size
    if affines is None:
        affines = track_affines(frames, size, template=face_template or pipeline.face_template)
    if len(affines) != len(frames):
        raise ValueError(f"{len(affines)} affines for {len(frames)} source frames")
    has_face = np.isfinite(affines).all(axis=(1, 2))
    n_out = -(-len(audio) // SAMPLES_PER_FRAME)
    index = source_indices(len(frames), n_out, loop)
    still = len(frames) == 1 and bool(has_face[0])
    if still and still_fit:
        photo, affine, scale = fit_photo_to_model(frames[0], affines[0])
        if scale < 1:
            log.info("photo shrunk x%.3f to %dx%d so the face is at the model's %d px resolution", scale,
                     photo.shape[1], photo.shape[0], size)
        frames, affines = photo[None], affine[None]
    motion = natural_head_motion(n_out, affines[0], size, seed) if still and still_motion else None
    ref_of = reference_indices(len(frames), has_face, reference)  # source frame -> its reference source frame
    encoder = pipeline.audio_encoder
    mask = pipeline.pixel_mask[0, 0].cpu().numpy()  # the model's own mask (LatentSync's image, or the box)
    missing = 0
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp, tqdm(total=n_out, desc="lip-sync", unit="frame") as bar:
        sink = VideoSink(Path(tmp) / "video.mp4", frames.shape[2], frames.shape[1])
        # the whole clip's audio at once, so windows near a piece boundary see the real neighbours (LatentSync
        # computes features over the whole audio too); faces are then generated FACE_BATCH frames at a time
        all_tokens = encoder.clip_features(audio, n_frames=n_out)  # (n_out, K, D)
        for first in range(0, n_out, FACE_BATCH):
            count = min(FACE_BATCH, n_out - first)
            tokens = all_tokens[first:first + count]
            ids = index[first:first + count]
            todo = [i for i, s in enumerate(ids) if has_face[s]]
            faces = {}
            if todo:
                crops = torch.from_numpy(np.stack([align(frames[ids[i]], affines[ids[i]], size) for i in todo]))
                crops = crops.permute(0, 3, 1, 2).contiguous()  # (n, 3, S, S) uint8
                src, ref_src = ids[todo], ref_of[ids[todo]]
                # a frame that is its own reference (reference=same, a single photo) reuses its crop
                refs = crops if np.array_equal(src, ref_src) else torch.from_numpy(
                    np.stack([align(frames[r], affines[r], size) for r in ref_src])).permute(0, 3, 1, 2).contiguous()
                gen = pipeline.generate(crops, refs, tokens[todo], num_steps, guidance_scale, chunk_frames,
                                        seed, first_frame=first, progress=progress or bar)
                faces = dict(zip(todo, gen.permute(0, 2, 3, 1).numpy()))
            for i, s in enumerate(ids):
                if i in faces and motion is not None:  # the crop is motion-free; only the paste sees the sway
                    frame, affine = moved_frame(frames[0], affines[0], motion[first + i])
                    sink.write(paste_mouth(frame, faces[i], affine, feather=feather, mask=mask))
                elif i in faces:
                    sink.write(paste_mouth(frames[s], faces[i], affines[s], feather=feather, mask=mask))
                else:
                    sink.write(frames[s])
                    missing += 1
                if progress is not None or i not in faces:  # else the bar moved as the face was generated
                    bar.update(1)
        sink.close()
        wav = write_wav(Path(tmp) / "audio.wav", audio)
        mux(sink.path, wav, out)
    result = LipSyncResult(out, n_out, missing, time.perf_counter() - t0)
    log.info("%s: %d frames (%d without a face, passed through) in %.1f s (%.2f fps)", out, n_out, missing,
             result.seconds, result.fps)
    return result
