"""The Montreal Forced Aligner path (data_prep/arabic/mfa.py) without the ``mfa`` binary.

MFA is a conda tool that no test machine has, so before these tests nothing on the MFA path ever ran. Here
everything but the ``mfa`` process itself runs: the pronunciation dictionary, the per-utterance corpus that
``MfaAligner.align`` exports (``utt.wav`` + ``utt.lab``), the command line, reading MFA's TextGrid back, the
confidence from unknown words, the failure reasons and ``aligner=auto`` choosing MFA. A stand-in ``mfa``
(a small Python script put first on PATH) records what it was given and answers with a TextGrid the test
wrote. Only :func:`test_real_mfa_answers` needs the real binary and is skipped without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from data_prep.arabic.mfa import MfaAligner, write_dictionary
from data_prep.arabic.phoneset import PHONE_SET
from data_prep.phonemes import Alignment, AlignmentFailed, Interval, make_aligner

FAKE_MFA = '''#!{python}
import json, os, shutil, sys
from pathlib import Path
record = Path(os.environ["FAKE_MFA_RECORD"])
args = sys.argv[1:]
(record / "argv.json").write_text(json.dumps(args))
corpus, dictionary, model, out = args[-4:]
shutil.copytree(corpus, record / "corpus", dirs_exist_ok=True)
if os.environ.get("FAKE_MFA_EXIT", "0") != "0":
    print("fake mfa: acoustic model does not match the dictionary", file=sys.stderr)
    sys.exit(int(os.environ["FAKE_MFA_EXIT"]))
Path(out).mkdir(parents=True, exist_ok=True)
shutil.copy(os.environ["FAKE_MFA_TEXTGRID"], Path(out) / "utt.TextGrid")
'''

TEXT = "ذَهَبَ الوَلَدُ، إِلَى المَدْرَسَةِ ."  # four words and pause punctuation


@pytest.fixture
def fake_mfa(tmp_path: Path, monkeypatch) -> Path:
    """A stand-in ``mfa`` first on PATH; returns the folder where it records its arguments and corpus."""
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir()
    record.mkdir()
    script = bin_dir / "mfa"
    script.write_text(FAKE_MFA.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FAKE_MFA_RECORD", str(record))
    return record


def mfa_textgrid(path: Path, words: list[str], phones: list[str]) -> Path:
    """A TextGrid as MFA writes it: one interval per word / phone, 0.2 s each."""
    def intervals(labels: list[str], step: float) -> list[Interval]:
        return [Interval(round(i * step, 3), round((i + 1) * step, 3), lab) for i, lab in enumerate(labels)]
    ali = Alignment(intervals(words, 0.6), intervals(phones, 0.2), 1.0, "mfa")
    path.write_text(ali.to_textgrid(duration=max(len(words) * 0.6, len(phones) * 0.2) + 0.01), encoding="utf-8")
    return path


def test_write_dictionary_gives_bare_words_and_phones_of_the_phone_set(tmp_path: Path):
    out = tmp_path / "ar.dict"
    n = write_dictionary(["كَتَبَ", "كتب", "بَابٌ", "كَتَبَ"], out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert n == len(lines) == 3  # one line per distinct word as given (the bare and the diacritised كتب both)
    entries = [line.split("\t") for line in lines]
    assert all(len(e) == 2 for e in entries), lines
    words = [w for w, _ in entries]
    assert sorted(words) == ["باب", "كتب", "كتب"]  # keyed by the bare word, as the .lab transcripts are
    for word, phones in entries:
        assert phones.split() and set(phones.split()) <= set(PHONE_SET), (word, phones)
    by_word = {}
    for word, phones in entries:
        by_word.setdefault(word, []).append(phones.split())
    assert ["k", "a", "t", "a", "b", "a"] in by_word["كتب"]  # كَتَبَ: k a t a b a
    assert by_word["باب"][0][:3] == ["b", "aː", "b"]  # بَابٌ: b aː b ...


def test_align_exports_the_utterance_and_reads_mfa_textgrid_back(fake_mfa: Path, tmp_path: Path, monkeypatch):
    grid = mfa_textgrid(tmp_path / "answer.TextGrid", ["ذهب", "الولد", "إلى", "spn"],
                        ["sil", "ð", "a", "h", "a", "b", "a", "spn"])
    monkeypatch.setenv("FAKE_MFA_TEXTGRID", str(grid))
    audio = (np.sin(np.arange(16000 * 2) / 9) * 8000).astype(np.int16)
    aligner = MfaAligner(acoustic_model=tmp_path / "ar.zip", dictionary=tmp_path / "ar.dict", beam=40,
                         min_confidence=0.5)
    ali = aligner.align(audio, 16000, TEXT)

    argv = json.loads((fake_mfa / "argv.json").read_text())
    assert argv[:5] == ["align", "--clean", "--single_speaker", "--beam", "40"]
    assert argv[-3:-1] == [str(tmp_path / "ar.dict"), str(tmp_path / "ar.zip")]
    corpus = fake_mfa / "corpus"
    assert sorted(p.name for p in corpus.iterdir()) == ["utt.lab", "utt.wav"]
    assert (corpus / "utt.lab").read_text(encoding="utf-8") == "ذهب الولد إلى المدرسة"  # bare, normalised
    with wave.open(str(corpus / "utt.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
        assert np.array_equal(np.frombuffer(w.readframes(w.getnframes()), np.int16), audio)

    assert [p.label for p in ali.phones] == ["ð", "a", "h", "a", "b", "a"]  # MFA's silence / unknown dropped
    assert ali.phones[0].start == pytest.approx(0.2) and ali.aligner == "mfa"
    assert ali.confidence == pytest.approx(3 / 4)  # three of the four transcript words known


def test_align_failures_carry_reasons(fake_mfa: Path, tmp_path: Path, monkeypatch):
    aligner = MfaAligner(acoustic_model="m.zip", dictionary="d.dict", min_confidence=0.5)
    audio = np.zeros(16000, np.int16)
    monkeypatch.setenv("FAKE_MFA_TEXTGRID", str(mfa_textgrid(tmp_path / "a.TextGrid", ["spn", "spn", "ذهب"],
                                                             ["spn", "ð"])))
    with pytest.raises(AlignmentFailed) as err:
        aligner.align(audio, 16000, TEXT)
    assert err.value.reason == "low_confidence" and "25%" in err.value.detail  # one word of four
    monkeypatch.setenv("FAKE_MFA_EXIT", "1")
    with pytest.raises(AlignmentFailed) as err:
        aligner.align(audio, 16000, TEXT)
    assert err.value.reason == "mfa_error" and "does not match" in err.value.detail
    with pytest.raises(AlignmentFailed) as err:
        aligner.align(audio, 16000, "... ,")
    assert err.value.reason == "empty_transcript"


def test_auto_picks_mfa_when_it_is_on_path_and_configured(fake_mfa: Path):
    chosen = make_aligner("auto", acoustic_model="m.zip", dictionary="d.dict")
    assert isinstance(chosen, MfaAligner)
    assert make_aligner("auto").name == "builtin-dtw"  # on PATH but not configured: the built-in aligner
    with pytest.raises(ValueError, match="acoustic_model"):
        make_aligner("mfa")


def test_mfa_missing_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="not on PATH"):
        MfaAligner(acoustic_model="m.zip", dictionary="d.dict", mfa_command=str(tmp_path / "no-mfa"))


@pytest.mark.skipif(shutil.which("mfa") is None, reason="mfa (montreal-forced-aligner, conda) is not on PATH")
def test_real_mfa_answers():
    proc = subprocess.run(["mfa", "version"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr
