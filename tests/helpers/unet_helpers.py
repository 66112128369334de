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


def write_unet_checkpoint(path, parts=None, image_size: int = 32) -> str:
    """A UNet checkpoint in the format lipsync-train writes (``lipsync_unet`` spec + state dict) from tiny parts."""
    from data_prep.mouth_mask import MouthRegion
    from lipsync_train.networks.unet_checkpoint import unet_spec

    net, vae, encoder, schedule = parts or tiny_parts()
    state = {f"{prefix}.{k}": v for prefix, module in (("net", net), ("vae", vae), ("audio_encoder", encoder))
             for k, v in module.state_dict().items()}
    torch.save({"state_dict": state, "lipsync_unet": unet_spec(net, vae, encoder, schedule, image_size,
                                                               MouthRegion())}, path)
    return str(path)


LATENTSYNC_TINY_UNET = {"block_out_channels": [32, 32, 32, 32], "layers_per_block": 1, "cross_attention_dim": 64}
LATENTSYNC_TINY_VAE = dict(block_out_channels=[16, 32, 32, 32], down_block_types=["DownEncoderBlock2D"] * 4,
                           up_block_types=["UpDecoderBlock2D"] * 4, norm_num_groups=8, latent_channels=4,
                           layers_per_block=1)
LATENTSYNC_SD_VAE = dict(block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                         up_block_types=["UpDecoderBlock2D"] * 4, layers_per_block=2, latent_channels=4)
LATENTSYNC_TINY_WHISPER = dict(d_model=64, encoder_layers=4, encoder_attention_heads=4, encoder_ffn_dim=256,
                               max_source_positions=1500, num_mel_bins=80, decoder_layers=1,
                               decoder_attention_heads=4, decoder_ffn_dim=256, vocab_size=128, pad_token_id=0,
                               bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
WHISPER_TINY = dict(d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536,
                    max_source_positions=1500, num_mel_bins=80)


def write_latentsync_checkpoint(path, image_size: int = 64, full_size: bool = False, seed: int = 0) -> str:
    """Random parts in the layout ``lipsync-convert-weights`` writes: LatentSync's UNet block pattern (narrow blocks
    unless ``full_size``: then conf/latentsync/unet.yaml as is, the SD VAE's and Whisper-tiny's shapes), every UNet
    tensor perturbed away from its initial value."""
    from omegaconf import OmegaConf

    from data_prep import CONF_DIR
    from data_prep.mouth_mask import MouthRegion
    from lipsync_train.networks.latentsync_denoiser import LatentSyncDenoiser
    from lipsync_train.networks.unet_checkpoint import unet_spec
    from lipsync_train.networks.whisper_frames import WhisperFrameEncoder

    torch.manual_seed(seed)
    unet = OmegaConf.to_container(OmegaConf.load(f"{CONF_DIR}/latentsync/unet.yaml"), resolve=True)
    if not full_size:
        unet.update(LATENTSYNC_TINY_UNET)
    net = LatentSyncDenoiser(unet)
    with torch.no_grad():  # LatentSync zero-initialises conv_in / conv_out and the motion modules' proj_out, as a
        for param in net.parameters():  # released checkpoint never has them: perturb every tensor
            param.add_(torch.randn_like(param) * 0.02)
    vae = FrozenVAE(config=LATENTSYNC_SD_VAE if full_size else LATENTSYNC_TINY_VAE, scaling_factor=0.18215)
    encoder = WhisperFrameEncoder(WHISPER_TINY if full_size else LATENTSYNC_TINY_WHISPER)
    state = {f"{prefix}.{k}": v for prefix, module in (("net", net), ("vae", vae), ("audio_encoder", encoder))
             for k, v in module.state_dict().items()}
    spec = unet_spec(net, vae, encoder, NoiseSchedule(steps_offset=1), image_size, MouthRegion(),
                     defaults={"num_steps": 20, "guidance_scale": 1.5, "chunk_frames": 16, "face_template": "latentsync"})
    torch.save({"state_dict": state, "lipsync_unet": spec}, path)
    return str(path)
