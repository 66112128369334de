"""Why a source video or clip was dropped: one exception, one vocabulary of reasons.

Every stage of the dataset pipeline that gives up on its input raises
:class:`Dropped` with a reason from :data:`REASONS`, so the pipeline can count
drops per reason and write them to its report instead of letting bad inputs
vanish silently (the Wav2Lip ``except Exception: continue`` trap).
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    "unreachable_url": "the source URL could not be reached (404, private, geo-blocked, no network)",
    "download_failed": "the download started but did not produce a readable file",
    "corrupt_file": "ffprobe/ffmpeg could not read the file (truncated or not a media file)",
    "no_video_stream": "the file has no video stream",
    "no_audio_stream": "the file has no audio stream",
    "silence": "the audio track is silent (peak level below the silence threshold)",
    "too_short": "the (cut) media is shorter than the minimum duration",
    "no_face": "no face was found in the frames",
    "several_faces": "more than one face is visible, so the speaker is ambiguous",
    "face_too_small": "the face is smaller than the minimum face size, or the crop would upscale it more than "
                      "quality.max_upscale",
    "blurry": "the mouth region is not sharp enough (variance of the Laplacian below quality.min_mouth_sharpness)",
    "profile": "the head is turned too far (yaw / pitch beyond quality.max_yaw / max_pitch)",
    "jittery": "the face landmarks shake more than quality.max_jitter eye distances from frame to frame",
    "no_usable_segment": "no shot / face run is long enough to make a clip",
    "alignment_failed": "phoneme alignment of the transcript to the audio failed",
    "out_of_sync": "the audio-visual offset is outside the accepted range",
    "low_sync_confidence": "the audio-visual sync confidence is below the threshold",
    "internal_error": "an unexpected error in the pipeline itself (the detail holds the traceback): a bug to report",
}


class Dropped(Exception):
    """A pipeline stage rejected its input for a known ``reason`` (a key of :data:`REASONS`)."""

    def __init__(self, stage: str, reason: str, detail: str = ""):
        if reason not in REASONS:
            raise ValueError(f"unknown drop reason {reason!r} from stage {stage!r}; expected one of {sorted(REASONS)}")
        self.stage = stage
        self.reason = reason
        self.detail = detail
        super().__init__(f"[{stage}] {reason}" + (f": {detail}" if detail else ""))

    def __reduce__(self):  # keep picklable across multiprocessing workers
        return (type(self), (self.stage, self.reason, self.detail))
