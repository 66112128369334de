"""crop=track: IoU linking with gaps, syncnet_python's crop geometry, and mediapipe on a real face."""

import numpy as np
import pytest

from evaluation import media
from evaluation.face_track import FaceTrack, TrackConfig, crop_track, link_tracks, track_and_crop
from tests.helpers.video_helpers import face_video, ffmpeg_available


def test_link_tracks_bridges_gaps_and_filters_short_tracks():
    cfg = TrackConfig(min_track=5, num_failed_det=3, min_face_size=10)
    dets = [np.array([[10.0 + t, 10, 60 + t, 60]]) for t in range(12)]
    dets[4] = np.empty((0, 4))  # a missed detection inside the track
    dets[6] = np.vstack([dets[6], [[200, 200, 215, 215]]])  # a one-frame second face
    tracks = link_tracks(dets, cfg)
    assert len(tracks) == 1
    assert tracks[0].frames.tolist() == list(range(12))
    np.testing.assert_allclose(tracks[0].boxes[4], [14, 10, 64, 60])  # interpolated over the gap


def test_crop_geometry_is_syncnet_python():
    frame = np.zeros((400, 400, 3), np.uint8)
    frame[200:, :, 2] = 255  # lower half red
    box = np.array([150.0, 150, 250, 250])  # half-size s = 50, centre (200, 200)
    cfg = TrackConfig(smooth_kernel=1)
    crop = crop_track(frame[None].repeat(3, 0), FaceTrack(np.arange(3), np.tile(box, (3, 1))), cfg, size=140)
    # rows my - s .. my + 1.8 s = 150..290 (140 px, no resize): red from row 200 - 150 = 50
    assert crop.shape == (3, 140, 140, 3)
    assert crop[0, 49, 70, 2] == 0 and crop[0, 50, 70, 2] == 255


@pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg/ffprobe not installed")
def test_track_and_crop_real_face(tmp_path):
    video = face_video(tmp_path / "face.mp4", seconds=1.2, fps=25, size=(320, 240), motion=0.02, zoom=0.0)
    frames = media.read_frames(video, None)
    crops, track = track_and_crop(frames, TrackConfig(min_track=10, min_face_size=40))
    assert crops.shape == (len(track.frames), 224, 224, 3) and len(track.frames) >= 25
    with pytest.raises(ValueError, match="no face track"):
        track_and_crop(np.full_like(frames, 128), TrackConfig(min_track=10, min_face_size=40))
