"""Stage 4: split a normalised video into shots, and shots into fixed-length clips.

A training clip must not straddle a camera cut: the face (or the person)
changes across it and a lip-sync model would learn nonsense from the jump.
PySceneDetect's ``ContentDetector`` finds the cuts (on a downscaled copy of each
frame, which is plenty for cut detection and several times faster); the
ranges between cuts are then cut into clips of a fixed number of frames.

Frame ranges are half-open ``[start, stop)`` indices into the normalised video.
"""

from __future__ import annotations

import logging
from pathlib import Path

from scenedetect import ContentDetector, SceneManager, open_video

log = logging.getLogger(__name__)


def detect_shots(video: Path, threshold: float = 27.0, min_shot_frames: int = 12,
                 downscale_to: int = 160) -> list[tuple[int, int]]:
    """Shot frame ranges ``[(start, stop), ...]`` covering the whole video, in order.

    ``threshold`` is ContentDetector's HSV-difference threshold; shots shorter
    than ``min_shot_frames`` are merged into their neighbour by the detector.
    Frames are downscaled so their width is about ``downscale_to`` pixels.
    """
    stream = open_video(str(video), backend="opencv")
    manager = SceneManager()
    manager.auto_downscale = False
    manager.downscale = max(1, stream.frame_size[0] // downscale_to)
    manager.add_detector(ContentDetector(threshold=threshold, min_scene_len=min_shot_frames))
    n_read = manager.detect_scenes(video=stream, show_progress=False)
    scenes = manager.get_scene_list(start_in_scene=True)
    ranges = [(start.frame_num, end.frame_num) for start, end in scenes]
    if not ranges and n_read:
        ranges = [(0, n_read)]
    log.info("%s: %d frames, %d shots", video, n_read, len(ranges))
    return ranges


def segment_clips(ranges: list[tuple[int, int]], clip_frames: int, min_frames: int) -> list[tuple[int, int]]:
    """Cut each range into consecutive clips of ``clip_frames``.

    A remainder of at least ``min_frames`` becomes its own (shorter) clip; a
    shorter remainder, and any range shorter than ``min_frames``, is discarded.
    """
    if clip_frames <= 0 or min_frames <= 0:
        raise ValueError(f"clip_frames ({clip_frames}) and min_frames ({min_frames}) must be positive")
    clips = []
    for start, stop in ranges:
        for clip_start in range(start, stop, clip_frames):
            clip_stop = min(clip_start + clip_frames, stop)
            if clip_stop - clip_start >= min_frames:
                clips.append((clip_start, clip_stop))
    return clips
