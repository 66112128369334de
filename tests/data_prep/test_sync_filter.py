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


def test_default_expert_is_syncnet_v2_with_latentsync_thresholds():
    from data_prep.workflow.config import SyncConfig
    from data_prep.workflow.sync_filter import SYNCNET_V2_URL

    cfg = SyncConfig()
    assert (cfg.ckpt, cfg.min_confidence, cfg.max_abs_offset) == (SYNCNET_V2_URL, 3.0, 6)
    assert SyncFilter(FixedScorer(6, 3.0)).check(*clip())[2]["applied_shift"] == 6  # the edges are kept
    with pytest.raises(Dropped, match="out_of_sync"):
        SyncFilter(FixedScorer(7, 9.0)).check(*clip())


def test_offline_default_expert_is_not_checked_loudly_with_the_reason(monkeypatch, tmp_path, caplog):
    from data_prep.workflow.sync_filter import SYNCNET_V2_URL, resolve_sync_expert

    monkeypatch.setenv("LIPSYNC_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path, record = resolve_sync_expert(SYNCNET_V2_URL)
    assert path is None and record["checked"] is False and record["ckpt"] == SYNCNET_V2_URL
    assert "offline" in record["reason"] and "sync.ckpt" in record["reason"]
    assert "A/V SYNC NOT CHECKED" in caplog.text
    _, off = resolve_sync_expert(None)
    assert off == {"checked": False, "ckpt": None, "reason": "sync.ckpt=null"}


def test_cached_or_local_expert_is_used_and_a_missing_local_file_is_an_error(monkeypatch, tmp_path):
    import hashlib

    from data_prep.workflow.sync_filter import SYNCNET_V2_URL, resolve_sync_expert

    monkeypatch.setenv("LIPSYNC_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cached = tmp_path / hashlib.sha1(SYNCNET_V2_URL.encode()).hexdigest()[:12] / "syncnet_v2.model"
    cached.parent.mkdir()
    cached.write_bytes(b"weights")  # fetched on an earlier, online run
    assert resolve_sync_expert(SYNCNET_V2_URL) == (str(cached), {"checked": True, "ckpt": SYNCNET_V2_URL})
    local = tmp_path / "expert.ckpt"
    local.write_bytes(b"weights")
    assert resolve_sync_expert(str(local))[0] == str(local)
    with pytest.raises(FileNotFoundError, match="sync.ckpt"):
        resolve_sync_expert(str(tmp_path / "typo.ckpt"))
