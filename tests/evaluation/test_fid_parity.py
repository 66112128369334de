"""FID parity with pytorch-fid's own numbers: our Inception's pool3 activations and our FID of two image sets.

The fixture (``tests/fixtures/fid/``) was written by pytorch-fid itself
(``tools/fixtures/make_fid_fixtures.py``, run in a scratch venv with
torchvision; versions, seeds and the weights' digest in ``provenance.json``):
twelve RGB images of ten sizes (upsampled, exactly 299, downsampled,
non-square) through its ``InceptionV3([3])`` defaults. Its weights are not the
official file but :func:`tests.helpers.seeded_weights.seeded_state_dict` of
its keys, and the same call fills ours here, so any difference is in the
network or the preprocessing: the average pools' ``count_include_pad``, the
resize's mode, the [-1, 1] scaling, block order or pooling. Bounds: pool3
activations within 1e-4 x the reference activations' std; the FID of set A
against set B within 1e-3 relative, computed by our code path
(:func:`evaluation.metrics.fid.frame_features` on BGR uint8 frames, then
:func:`evaluation.metrics.fid.fid_of_features`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.fid_inception import FIDInceptionV3
from evaluation.metrics.fid import fid_of_features, frame_features
from tests.helpers.seeded_weights import fill_seeded

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fid"
ACTIVATION_TOL = 1e-4  # x the reference activations' std
FID_REL_TOL = 1e-3


@pytest.fixture(scope="module")
def reference():
    provenance = json.loads((FIXTURES / "provenance.json").read_text(encoding="utf-8"))
    with np.load(FIXTURES / "pytorch_fid_reference.npz") as z:
        data = {k: z[k] for k in z.files}
    images = [data[f"image_{i:02d}"] for i in range(len(provenance["sizes_hw"]))]
    return provenance, data, images


@pytest.fixture(scope="module")
def our_pool3(reference):
    provenance, _, images = reference
    model = FIDInceptionV3().eval()
    digest = fill_seeded(model, provenance["weights"]["seed"])
    assert digest == provenance["weights"]["sha256"], "seeded weights differ from the ones pytorch-fid ran with"
    # one image per batch (sizes differ); frame_features takes BGR frames, as videos are read
    return frame_features(model, (np.ascontiguousarray(img[None, :, :, ::-1]) for img in images))


def test_fixture_exercises_the_resize(reference):
    provenance, data, images = reference
    sizes = {img.shape[:2] for img in images}
    assert (299, 299) in sizes and any(h < 299 for h, _ in sizes) and any(h > 299 or w > 299 for h, w in sizes)
    assert any(h != w for h, w in sizes)
    assert data["pool3"].shape == (len(images), 2048)
    # random-weight features that still tell images apart (not the degenerate all-alike case)
    assert data["pool3"].std(axis=0).mean() > 0.05 * data["pool3"].std()


def test_pool3_activations_match_pytorch_fid(reference, our_pool3):
    _, data, images = reference
    ref = data["pool3"].astype(np.float64)
    scale = ref.std()
    per_image = np.abs(our_pool3 - ref).max(axis=1)
    worst = int(per_image.argmax())
    assert per_image.max() <= ACTIVATION_TOL * scale, (
        f"pool3 max |ours - pytorch-fid| = {per_image.max():.3g} = {per_image.max() / scale:.3g} x std "
        f"(bound {ACTIVATION_TOL}); worst image {worst} of size {images[worst].shape[:2]}; per image (x std): "
        f"{np.round(per_image / scale, 6).tolist()}")


def test_fid_of_two_sets_matches_pytorch_fid(reference, our_pool3):
    _, data, _ = reference
    ours = fid_of_features(our_pool3[data["set_a"]], our_pool3[data["set_b"]])
    ref = float(data["fid"])
    assert abs(ours - ref) <= FID_REL_TOL * abs(ref), (
        f"FID ours {ours:.6g} vs pytorch-fid {ref:.6g}: relative {abs(ours - ref) / abs(ref):.3g} "
        f"(bound {FID_REL_TOL})")
