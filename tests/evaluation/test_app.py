"""``lipsync-app`` served for real and driven through its API with gradio_client (issue 18).

One app process serves the whole test: the user's mistakes (empty text, no face
in the image, an audio file that does not decode, a checkpoint of the wrong
kind) each come back as their own message, and after them the same app still
generates a video from a photo and an English text (espeak-ng, offline) and
scores it with the expert given on its command line.
"""

from __future__ import annotations

import math

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from data_prep.media import load_audio, read_frames
from data_prep.schema import SAMPLE_RATE
from tests.helpers.app_helpers import running_app, write_app_inputs

pytestmark = pytest.mark.timeout(600)


def test_app_generates_from_a_photo_and_text_and_reports_user_errors(tmp_path):
    files = write_app_inputs(tmp_path)
    with running_app(tmp_path, files) as url:
        client = Client(url, verbose=False)

        def generate(**change):
            args = dict(face_image=handle_file(str(files["face"])), face_video=None, audio=None,
                        text="Hello there, welcome to the course.", lang="en", voice="espeak",
                        ckpt=str(files["unet"]), steps=2, guidance=1.5, seed=0)
            args.update(change)
            return client.predict(*args.values(), api_name="/generate")

        mistakes = [({"text": "   "}, "The text is empty"),
                    ({"face_image": handle_file(str(files["blank"]))}, "No face found in the image"),
                    ({"audio": handle_file(str(files["bad_audio"]))}, "bad.wav does not decode as audio"),
                    ({"ckpt": str(files["expert"])}, "expert.ckpt is not a lip-sync UNet checkpoint")]
        for change, message in mistakes:
            with pytest.raises(AppError, match=message):
                generate(**change)

        video, table, info = generate()  # the same process, after four refused requests

    frames, audio = read_frames(video), load_audio(video)
    speech_s = info["seconds_of_speech"]
    assert info["speech"] == "text spoken by espeak (en)" and speech_s > 0.5
    assert len(frames) == info["frames"] == math.ceil(speech_s * 25 - 1e-6)  # one frame per 40 ms of speech
    assert abs(len(audio) / SAMPLE_RATE - speech_s) < 0.1
    assert info["frames_without_face"] == 0
    assert (frames[1:] != frames[:-1]).any(axis=(1, 2, 3)).mean() > 0.9  # head motion + a new mouth every frame
    expert = info["scores"]["expert"]
    assert math.isfinite(expert["lse_c"]) and math.isfinite(expert["lse_d"])
    assert table.splitlines()[2].startswith("| expert | ")
