"""The latent cache: each frame is encoded once, and what comes back is what encoding it now gives."""

from __future__ import annotations

import torch

from lipsync_train.modules.latent_cache import LatentCache


class CountingEncoder:
    """A deterministic per-frame 'VAE' that counts the frames it encodes."""

    def __init__(self):
        self.frames = 0
        torch.manual_seed(0)
        self.proj = torch.nn.Conv2d(3, 4, 4, stride=4)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.frames += len(x)
        return self.proj(x)


def clip_frames(n_frames: int = 12, size: int = 8) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.rand(n_frames, 3, size, size) * 2 - 1


def test_frames_are_encoded_once_and_equal_a_fresh_encoding():
    enc, cache = CountingEncoder(), LatentCache()
    a, b = clip_frames(), clip_frames() * 0.5
    windows = torch.stack([a[2:6], b[0:4]])  # clips "a" from frame 2, "b" from frame 0: (2, 4, 3, 8, 8)
    got = cache.latents(enc, ["a", "b"], torch.tensor([2, 0]), windows, "frame")
    assert enc.frames == 8 and got.shape == (8, 4, 2, 2)
    torch.testing.assert_close(got, enc.proj(windows.flatten(0, 1)), rtol=0, atol=1e-6)
    overlap = torch.stack([a[4:8], a[4:8]])  # frames 4, 5 were seen; 6, 7 are new, and asked twice
    got = cache.latents(enc, ["a", "a"], torch.tensor([4, 4]), overlap, "frame")
    assert enc.frames == 8 + 2 and len(cache) == 10
    torch.testing.assert_close(got, enc.proj(overlap.flatten(0, 1)), rtol=0, atol=1e-6)
    masked = cache.latents(enc, ["a"], torch.tensor([2]), (a[2:6] * 0)[None], "masked")  # another kind: encoded
    assert enc.frames == 14 and torch.allclose(masked, enc.proj(torch.zeros(4, 3, 8, 8)))


def test_a_full_cache_still_returns_every_frame_and_says_so(caplog):
    enc, cache = CountingEncoder(), LatentCache(max_frames=3)
    a = clip_frames()
    got = cache.latents(enc, ["a"], torch.tensor([0]), a[None, :5], "frame")
    assert len(cache) == 3 and "latent cache full" in caplog.text
    torch.testing.assert_close(got, enc.proj(a[:5]), rtol=0, atol=1e-6)
    got = cache.latents(enc, ["a"], torch.tensor([0]), a[None, :5], "frame")
    assert enc.frames == 5 + 2  # frames 3 and 4 did not fit: encoded again
    torch.testing.assert_close(got, enc.proj(a[:5]), rtol=0, atol=1e-6)
