"""The UNet recipe's null control (``data.audio_from=other_clip``): every clip trains on another speaker's audio."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from data_prep import schema
from lipsync_train.data.unet_windows import sample_unet_windows, with_other_clips_audio


def sample(key: str, speaker: str, text: str, n: int, value: int) -> dict:
    audio = np.full(n, value, np.int16)
    return {"__key__": key, schema.META: json.dumps({"speaker": speaker, "text": text}).encode(),
            schema.AUDIO: schema.encode_wav(audio)}


def audio_of(s: dict) -> np.ndarray:
    return schema.decode_wav(s[schema.AUDIO])[0]


def test_every_clip_gets_another_speakers_audio_at_its_own_length():
    clips = [sample("a0", "a", "one", 1000, 1), sample("a1", "a", "two", 1200, 2), sample("b0", "b", "one", 900, 3),
             sample("b1", "b", "three", 1500, 4), sample("c0", "c", "one", 800, 5)]
    by_value = {i + 1: c for i, c in enumerate(clips)}
    out = list(with_other_clips_audio(iter(clips)))
    assert sorted(s["__key__"] for s in out) == sorted(c["__key__"] for c in clips)  # none lost, none twice
    own = {c["__key__"]: c for c in clips}
    for s in out:
        got = audio_of(s)
        assert len(got) == len(audio_of(own[s["__key__"]]))
        donor = by_value[int(got[0])]
        assert (got == got[0]).all() and donor["__key__"] != s["__key__"]
        # a0 is held back and takes a1's audio (the only one after it), so its donor shares its speaker;
        # every other clip has an earlier clip of another speaker in reach and gets one
        if s["__key__"] != "a0" and s["__key__"] != "a1":
            assert json.loads(donor[schema.META])["speaker"] != json.loads(s[schema.META])["speaker"], s["__key__"]


def test_the_donor_is_another_speaker_else_another_transcript_never_the_same_voice_and_sentence():
    clips = [sample("a0", "a", "two", 500, 1), sample("b0", "b", "one", 500, 2), sample("b1", "b", "one", 500, 3)]
    out = {s["__key__"]: int(audio_of(s)[0]) for s in with_other_clips_audio(iter(clips))}
    assert out["b1"] == 1  # the latest (b0) is the same voice: the latest of another speaker (a0) instead
    same_voice = [sample("a0", "a", "two", 500, 1), sample("a1", "a", "one", 500, 2), sample("a2", "a", "one", 500, 3)]
    out = {s["__key__"]: int(audio_of(s)[0]) for s in with_other_clips_audio(iter(same_voice))}
    assert out["a2"] == 1  # one speaker only: a1 says the same sentence, a0 another one
    assert out["a0"] == 2  # held back until a1 arrives


def test_the_null_windows_carry_the_donors_audio_and_a_typo_is_refused():
    from data_prep.window_spec import WindowSpec

    with pytest.raises(ValueError, match="data.audio_from='other'"):
        next(sample_unet_windows(iter([]), WindowSpec(n_frames=4, image_size=8), 1, None, random.Random(0),
                                 audio_from="other"))
