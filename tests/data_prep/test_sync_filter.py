"""The sync filter drops low-confidence / far-off clips and re-pairs frames with audio."""

import numpy as np
import pytest

from data_prep.workflow.drops import Dropped
from data_prep.workflow.sync_filter import SyncFilter, audio_frames, make_sync_filter


class FixedScorer:
    """Stands in for a trained SyncNet: reports a given offset and confidence."""

    def __init__(self, offset, confidence):
        self.offset, self.confidence = offset, confidence

    def av_offset(self, frames, audio, max_offset=15):
        return self.offset, self.confidence


def clip(n=50):
    frames = np.arange(n, dtype=np.uint8)[:, None, None, None].repeat(4, 1).repeat(4, 2).repeat(3, 3)
    audio = np.repeat(np.arange(n, dtype=np.int16), 640)  # audio sample value = its frame index
    return frames, audio


@pytest.mark.parametrize("offset", [3, -2, 0])
def test_shift_pairs_video_frame_t_with_audio_frame_t_minus_offset(offset):
    frames, audio = clip()
    video_sel, audio_sel, meta = SyncFilter(FixedScorer(offset, 8.0)).check(frames, audio)
    kept_frames, kept_audio = frames[video_sel], audio_frames(audio, audio_sel)
    assert len(kept_audio) == len(kept_frames) * 640
    assert meta["applied_shift"] == offset and meta["confidence"] == 8.0
    for t in (0, len(kept_frames) - 1):
        assert kept_audio[t * 640] == kept_frames[t, 0, 0, 0] - offset


def test_drops():
    frames, audio = clip()
    with pytest.raises(Dropped, match="low_sync_confidence"):
        SyncFilter(FixedScorer(0, 1.0), min_confidence=3.0).check(frames, audio)
    with pytest.raises(Dropped, match="out_of_sync"):
        SyncFilter(FixedScorer(9, 9.0), max_abs_offset=5).check(frames, audio)


def test_no_checkpoint_means_skipped():
    assert make_sync_filter(None) is None
