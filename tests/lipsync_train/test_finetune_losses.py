"""The losses LatentSync's stage 2 adds: plain-torch LPIPS-VGG (published weight layouts) and mixed noise; the tiny
recipe's mouth-weighted noise loss."""

from __future__ import annotations

import pytest
import torch

from lipsync_train.losses.diffusion import clip_noise, denoising_loss, mouth_weight
from lipsync_train.losses.lpips import LPIPS


def torchvision_vgg16_state(model: LPIPS) -> dict[str, torch.Tensor]:
    """A state dict in torchvision's vgg16 layout (features.N.*, classifier.*), as vgg16-397923af.pth holds."""
    state = {f"features.{k}": v.clone() for k, v in model.features.state_dict().items()}
    state.update({"classifier.0.weight": torch.zeros(8, 8), "classifier.0.bias": torch.zeros(8)})
    return state


def test_lpips_is_zero_on_equal_images_and_grows_with_the_difference():
    torch.manual_seed(0)
    lpips = LPIPS(vgg_weights=None, lin_weights=None)
    for lin in lpips.lins:
        lin.weight.data.abs_()  # the published heads are non-negative
    x = torch.rand(2, 3, 32, 64) * 2 - 1
    small, large = x + 0.05 * torch.randn_like(x), x + 0.5 * torch.randn_like(x)
    d_same, d_small, d_large = lpips(x, x), lpips(x, small), lpips(x, large)
    assert d_same.shape == (2,) and torch.all(d_same == 0)
    assert torch.all(d_small > 0) and torch.all(d_large > d_small)
    assert not any(p.requires_grad for p in lpips.parameters())
    y = x.clone().requires_grad_(True)  # gradients flow to the generated image
    lpips(y, large).sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0


def test_lpips_reads_the_published_layouts_and_refuses_others(tmp_path):
    torch.manual_seed(1)
    source = LPIPS(vgg_weights=None, lin_weights=None)
    vgg, lin = tmp_path / "vgg16.pth", tmp_path / "lpips_vgg.pth"
    torch.save(torchvision_vgg16_state(source), vgg)
    torch.save({f"lin{i}.model.1.weight": l.weight.detach().clone() for i, l in enumerate(source.lins)}, lin)
    loaded = LPIPS(vgg_weights=str(vgg), lin_weights=str(lin))
    x, y = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.equal(loaded(x, y), source(x, y))
    bad = torchvision_vgg16_state(source)
    del bad["features.28.weight"]
    torch.save(bad, vgg)
    with pytest.raises(ValueError, match="features"):
        LPIPS(vgg_weights=str(vgg), lin_weights=None)
    torch.save({"lin0.model.1.weight": torch.zeros(1, 64, 1, 1)}, lin)
    with pytest.raises(ValueError, match="lin4"):
        LPIPS(vgg_weights=None, lin_weights=str(lin))


def test_mixed_noise_shares_alpha_squared_over_one_plus_alpha_squared_of_the_variance():
    g = torch.Generator().manual_seed(0)
    shape, frames = (64 * 8, 4, 16, 16), 8  # 64 clips of 8 frames
    noise = clip_noise(shape, frames, alpha=1.0, generator=g).view(64, frames, -1)
    assert abs(noise.var().item() - 1.0) < 0.02  # unit variance overall
    a, b = noise[:, 0], noise[:, 1]  # two frames of the same clip
    corr = ((a - a.mean()) * (b - b.mean())).mean() / (a.std() * b.std())
    assert abs(corr.item() - 0.5) < 0.03  # alpha = 1: half the variance is shared
    other = torch.roll(noise[:, 0], 1, dims=0)  # frames of different clips are independent
    assert abs(((a - a.mean()) * (other - other.mean())).mean().item()) < 0.02
    g0, g1 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(clip_noise((6, 4, 8, 8), 3, 0.0, g0), torch.randn((6, 4, 8, 8), generator=g1))


def test_mouth_weighted_noise_loss_weighs_the_mouth_latents_and_is_plain_mse_at_weight_one():
    pixel_mask = torch.zeros(1, 1, 16, 16)
    pixel_mask[..., 8:, 4:12] = 1  # the mouth: latents (4, 8) rows 2..3, cols 1..2 of a 4x4 latent at factor 4
    w = mouth_weight(pixel_mask, 4, inside=5.0)
    assert w.shape == (1, 1, 4, 4) and w[0, 0, 2:, 1:3].eq(5).all() and w.sum() == 16 + 4 * 4
    target = torch.zeros(2, 4, 4, 4)
    inside, outside = target.clone(), target.clone()
    inside[..., 2:, 1:3], outside[..., :2, :] = 1.0, 1.0 / 2 ** 0.5  # the same plain MSE (0.25) either way
    assert denoising_loss(inside, target) == pytest.approx(denoising_loss(outside, target))
    assert denoising_loss(inside, target, mouth_weight(pixel_mask, 4, 1.0)) == pytest.approx(0.25)
    assert denoising_loss(inside, target, w) == pytest.approx(5 * 4 / 32)  # weighted squares / weights
    assert denoising_loss(outside, target, w) == pytest.approx(0.5 * 8 / 32)
