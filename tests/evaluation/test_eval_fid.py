"""FID: the torchvision-free Inception has the official file's layout; the distance is pytorch-fid's."""

import numpy as np
import pytest
import torch
from scipy import linalg

from evaluation.metrics.fid import activation_statistics, frame_features, frechet_distance
from evaluation.fid_inception import FIDInceptionV3, load_fid_inception

# Shapes of pt_inception-2015-12-05-6726825d.pth (torchvision Inception3, 1008 classes, no aux head).
OFFICIAL_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_2b_3x3.conv.weight": (64, 32, 3, 3),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch3x3dbl_3.conv.weight": (96, 96, 3, 3),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
    "Mixed_7c.branch3x3_2b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}


def test_state_dict_layout_matches_official_file():
    model = FIDInceptionV3()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    for key, shape in OFFICIAL_SHAPES.items():
        assert shapes[key] == shape, key
    assert len(shapes) == 472  # 94 conv+bn units x 5 tensors + fc weight/bias
    assert sum(p.numel() for p in model.parameters()) == 23_850_960  # torchvision's 23,834,568 + 8 extra classes
    assert not any("AuxLogits" in k for k in shapes)


def test_load_official_style_file_and_features(tmp_path):
    torch.manual_seed(0)
    state = {k: v for k, v in FIDInceptionV3().state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "pt_inception.pth"
    torch.save(state, path)
    model = load_fid_inception(path)
    torch.testing.assert_close(model.Mixed_7c.branch_pool.conv.weight, state["Mixed_7c.branch_pool.conv.weight"])
    frames = np.random.default_rng(0).integers(0, 256, (3, 64, 80, 3), dtype=np.uint8)
    feats = frame_features(model, [frames])
    assert feats.shape == (3, 2048) and np.isfinite(feats).all() and (feats >= 0).all()
    bad = dict(state)
    bad["fc.weight"] = torch.zeros(1000, 2048)
    torch.save(bad, path)
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_fid_inception(path)


def test_frechet_distance_on_known_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    v1, v2 = rng.uniform(0.5, 2, 6), rng.uniform(0.5, 2, 6)
    closed_form = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(closed_form, rel=1e-10)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = a @ a.T + np.eye(6), b @ b.T + np.eye(6)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8)


def test_singular_product_gets_offset():
    sigma = np.zeros((4, 4))
    assert frechet_distance(np.zeros(4), sigma, np.ones(4), sigma) == pytest.approx(4.0, abs=1e-4)


def test_statistics_are_numpy_mean_and_cov():
    feats = np.random.default_rng(1).normal(size=(50, 8)).astype(np.float32)
    mu, sigma = activation_statistics(feats)
    np.testing.assert_array_equal(mu, feats.astype(np.float64).mean(0))
    np.testing.assert_array_equal(sigma, np.cov(feats.astype(np.float64), rowvar=False))
    with pytest.raises(ValueError, match="at least 2"):
        activation_statistics(feats[:1])
