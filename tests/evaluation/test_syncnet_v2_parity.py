"""syncnet_v2 parity with syncnet_python's own network: audio and lip embeddings of fixed inputs.

The fixture (``tests/fixtures/syncnet_v2/``) was written by ``SyncNetModel.S``
of joonson/syncnet_python at the commit in ``provenance.json``
(``tools/fixtures/make_syncnet_v2_fixtures.py``), its weights
:func:`tests.helpers.seeded_weights.seeded_state_dict` of its keys; the same
call fills ours here, so a difference is in the layers themselves (a stride,
padding or pooling, the layer order, the flattening). The key-layout test
(``tests/lipsync_train/test_train_models.py``) cannot see such a mistake.

Scale: with random weights and the official input ranges (MFCCs, BGR 0..255)
the embeddings are large (std ~80 audio, ~680 lip), so the bounds are relative
to the reference embeddings' std: 1e-5 x std for :class:`SyncNetV2` itself, and
1e-4 x std for the channels-last 2-D lip tower that LSE runs
(:class:`evaluation.fast_syncnet.SyncNetRunner`), a different summation order
of the same network (measured ~4e-6 x std).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from evaluation.fast_syncnet import SyncNetRunner
from lipsync_train.networks.syncnet_v2 import SyncNetV2
from tests.helpers.seeded_weights import fill_seeded

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "syncnet_v2"
TOL = 1e-5  # x the reference embeddings' std
RUNNER_TOL = 1e-4  # x std: the 2-D execution of the lip tower (summation order only)


@pytest.fixture(scope="module")
def reference():
    provenance = json.loads((FIXTURES / "provenance.json").read_text(encoding="utf-8"))
    with np.load(FIXTURES / "syncnet_python_reference.npz") as z:
        return provenance, {k: torch.from_numpy(z[k]) for k in z.files}


@pytest.fixture(scope="module")
def model(reference):
    provenance, _ = reference
    net = SyncNetV2().eval()
    digest = fill_seeded(net, provenance["weights"]["seed"])
    assert digest == provenance["weights"]["sha256"], "seeded weights differ from the ones syncnet_python ran with"
    return net


def assert_embeddings_close(ours: torch.Tensor, ref: torch.Tensor, tol: float, name: str) -> None:
    assert ours.shape == ref.shape, f"{name}: shape {tuple(ours.shape)} vs syncnet_python's {tuple(ref.shape)}"
    diff, scale = (ours - ref).abs().max().item(), ref.std().item()
    assert diff <= tol * scale, (f"{name}: max |ours - syncnet_python| = {diff:.4g} = {diff / scale:.3g} x std "
                                 f"(std {scale:.4g}, bound {tol} x std)")


def test_fixture_inputs_are_the_official_shapes(reference):
    _, data = reference
    assert tuple(data["mfcc"].shape) == (4, 1, 13, 20) and data["mfcc"].dtype == torch.float32
    assert tuple(data["video"].shape) == (2, 3, 5, 224, 224) and data["video"].dtype == torch.uint8
    assert tuple(data["audio_embedding"].shape) == (4, 1024) and tuple(data["lip_embedding"].shape) == (2, 1024)


@torch.no_grad()
def test_audio_embedding_matches_syncnet_python(reference, model):
    _, data = reference
    assert_embeddings_close(model.forward_aud(data["mfcc"]), data["audio_embedding"], TOL, "forward_aud")
    assert_embeddings_close(model.embed_audio(data["mfcc"][:, 0]), data["audio_embedding"], TOL, "embed_audio")


@torch.no_grad()
def test_lip_embedding_matches_syncnet_python(reference, model):
    _, data = reference
    video = data["video"].float()  # (B, 3, 5, 224, 224) BGR 0..255, as syncnet_python feeds it
    assert_embeddings_close(model.forward_lip(video), data["lip_embedding"], TOL, "forward_lip")
    assert_embeddings_close(model.embed_video(video.permute(0, 2, 1, 3, 4)), data["lip_embedding"], TOL,
                            "embed_video")


def test_lse_runner_lip_tower_matches_syncnet_python(reference, model):
    _, data = reference
    runner = SyncNetRunner(model)
    assert runner.lip2d is not None, "SyncNetRunner kept the 3-D tower: the 2-D path LSE uses was not tested"
    assert_embeddings_close(runner.forward_lip(data["video"].float()), data["lip_embedding"], RUNNER_TOL,
                            "SyncNetRunner.forward_lip")
