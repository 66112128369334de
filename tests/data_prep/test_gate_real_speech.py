"""The built-in aligner's default gate on real speech: five Common Voice Arabic clips (CC0) in the repo.

Every other aligner test hears espeak-ng or hand-made posteriors, so nothing there says that the
gate (``DEFAULT_MIN_CONFIDENCE``) still separates right from wrong transcripts of people speaking.
These clips (tests/fixtures/real_speech, provenance.json) run through the real built-in aligner and
phonet's released weights, each with its own transcript and with every other clip's: 25 alignments.

Measured 2026-12-07 (confidence with the own transcript; the highest with another clip's):
19058307 1.00 (0.38), 23395303 0.58 (0.39), 24206041 0.93 (0.33), 24597105 1.00 (0.25),
25245337 1.00 (0.30). Two of the 20 wrong pairs pass the gate, the 10% the issue allows. That bound
is asserted, not a tighter one: short read sentences share many phones. The per-frame floor binds on
no pair with a confidence above 0 (phonet hears read speech clearly enough that the relative margin is
the weaker term), so these clips do not pin it: tests/data_prep/test_confidence_gate.py does.
"""

import importlib.util
import json
from pathlib import Path

import pytest
import soundfile as sf

from data_prep.phonemes import DEFAULT_MIN_CONFIDENCE, BuiltinAligner

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real_speech"
CLIPS = json.loads((FIXTURES / "provenance.json").read_text(encoding="utf-8"))["clips"]
NAMES = [clip["file"] for clip in CLIPS]

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("phonet") is None,
                       reason="phonet's weights are not installed (./setup.sh installs them)"),
    pytest.mark.skipif("MP3" not in sf.available_formats(), reason="this libsndfile cannot read MP3"),
]


@pytest.fixture(scope="module")
def confidences() -> dict[tuple[str, str], float]:
    """(recording, transcript's recording) -> the built-in aligner's confidence, for every pair."""
    aligner = BuiltinAligner(min_confidence=0.0)  # the default judge and diacritiser; the gate is applied below
    table = {}
    for clip in CLIPS:
        audio, rate = sf.read(FIXTURES / clip["file"], dtype="float32", always_2d=True)
        for other in CLIPS:
            table[clip["file"], other["file"]] = aligner.align(audio.mean(axis=1), rate, other["transcript"]).confidence
    return table


def _wrong(confidences, name: str) -> dict[str, float]:
    return {other: c for (audio, other), c in confidences.items() if audio == name and other != name}


def test_the_aligner_gates_at_the_default():
    assert BuiltinAligner().min_confidence == DEFAULT_MIN_CONFIDENCE == 0.35


@pytest.mark.parametrize("name", NAMES)
def test_each_recording_passes_the_gate_with_its_own_transcript(confidences, name):
    assert confidences[name, name] >= DEFAULT_MIN_CONFIDENCE


@pytest.mark.parametrize("name", NAMES)
def test_each_recording_scores_its_own_transcript_above_every_other(confidences, name):
    wrong = _wrong(confidences, name)
    assert confidences[name, name] > max(wrong.values()), wrong


@pytest.mark.parametrize("name", NAMES)
def test_each_recording_fails_the_gate_with_most_other_transcripts(confidences, name):
    wrong = _wrong(confidences, name)
    refused = [other for other, c in wrong.items() if c < DEFAULT_MIN_CONFIDENCE]
    assert len(refused) >= len(wrong) - 1, wrong  # at most one other clip's transcript passes


def test_wrong_transcripts_pass_the_gate_at_most_one_time_in_ten(confidences):
    passed = {pair: round(c, 3) for pair, c in confidences.items()
              if pair[0] != pair[1] and c >= DEFAULT_MIN_CONFIDENCE}
    n_wrong = len(CLIPS) * (len(CLIPS) - 1)
    assert len(passed) <= 0.10 * n_wrong, passed
