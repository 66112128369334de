"""Tiny random parts of the diffusion UNet recipe (UNet, VAE, Whisper encoder, noise schedule) for tests."""

from __future__ import annotations

import torch

from lipsync_train.networks.noise_schedule import NoiseSchedule
from lipsync_train.networks.unet import LipSyncUNet
from lipsync_train.networks.vae import FrozenVAE
from lipsync_train.networks.whisper_encoder import WhisperAudioEncoder

TINY_UNET = dict(sample_size=8, in_channels=13, out_channels=4, block_out_channels=[16, 32],
                 down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
                 layers_per_block=1, cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)
TINY_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[8, 16, 16],
                down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
                layers_per_block=1, norm_num_groups=8, sample_size=32)
TINY_WHISPER = dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, decoder_layers=1,
                    decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=80, max_source_positions=50)


def tiny_parts(seed: int = 0, temporal: bool = False):
    torch.manual_seed(seed)
    return (LipSyncUNet(TINY_UNET, temporal=temporal, temporal_heads=2), FrozenVAE(config=TINY_VAE, scaling_factor=1.0),
            WhisperAudioEncoder(config=TINY_WHISPER), NoiseSchedule(num_train_timesteps=100))
