"""LatentSync parity of our StableSyncNet and Whisper per-frame features, against LatentSync's own outputs.

Fixtures (``tests/fixtures/latentsync/``, made by ``/work/ref/make_latentsync_fixtures.py`` with LatentSync's
code): a StableSyncNet with the real ``syncnet_16_pixel_attn.yaml`` structure but narrow channels, every
parameter perturbed, fp16 checkpoint; an openai-whisper-format checkpoint (fp16, ``n_audio_state`` 64, 4 heads,
4 layers, 30 s context) run through LatentSync's ``Audio2Feature``. Inputs come from integer generators checked
by sha256. Tolerance: max |ours - LatentSync| <= 1e-4 x std(LatentSync), float32.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from lipsync_train.networks.latentsync_syncnet import (
    LatentSyncSyncNet,
    load_latentsync_syncnet_state,
)
from lipsync_train.networks.whisper_frames import (
    WHISPER_MAPPING,
    WINDOW_OFFSETS,
    WhisperFrameEncoder,
    encoder_from_openai_checkpoint,
    frame_step_indices,
    latentsync_n_chunks,
    openai_to_hf_keys,
)
from tests.helpers.latentsync_inputs import FIXTURES, SHORT_SAMPLES, SHORT_SEED, LONG_SAMPLES, LONG_SEED, make_audio, make_frames, sha256, assert_close


FULL_MODEL_YAML = {  # model sections of LatentSync's configs/syncnet/*.yaml (copied)
    "attn": {
        "audio_encoder": {"in_channels": 1, "block_out_channels": [32, 64, 128, 256, 512, 1024, 2048],
                          "downsample_factors": [[2, 1], 2, 2, 1, 2, 2, [2, 3]], "attn_blocks": [0, 0, 0, 1, 1, 0, 0],
                          "dropout": 0.0},
        "visual_encoder": {"in_channels": 48, "block_out_channels": [64, 128, 256, 256, 512, 1024, 2048, 2048],
                           "downsample_factors": [[1, 2], 2, 2, 2, 2, 2, 2, 2], "attn_blocks": [0, 0, 0, 0, 1, 1, 0, 0],
                           "dropout": 0.0},
    },
}
FULL_MODEL_YAML["plain"] = {
    "audio_encoder": {**FULL_MODEL_YAML["attn"]["audio_encoder"], "attn_blocks": [0] * 7},
    "visual_encoder": {**FULL_MODEL_YAML["attn"]["visual_encoder"], "attn_blocks": [0] * 8},
}


# ============================================================================ StableSyncNet
@pytest.fixture(scope="module")
def syncnet_ref():
    return torch.load(FIXTURES / "syncnet_outputs.pt", weights_only=True)


@pytest.fixture(scope="module")
def syncnet_state():
    return torch.load(FIXTURES / "stable_syncnet_small.pt", weights_only=True)


@pytest.fixture(scope="module")
def syncnet(syncnet_state):
    model = LatentSyncSyncNet.from_latentsync_config(FIXTURES / "syncnet_small.yaml")
    return load_latentsync_syncnet_state(model, syncnet_state).eval()


@pytest.fixture(scope="module")
def syncnet_inputs(syncnet_ref):
    frames_u8 = make_frames(2, 16, 256, seed=3)
    assert sha256(frames_u8) == syncnet_ref["frames_sha256"], "frame generator drifted from the fixture script"
    frames = torch.from_numpy(frames_u8).float() / 127.5 - 1.0  # (2, 16, 3, 256, 256) in [-1, 1]
    with np.load(FIXTURES / "latentsync_audio.npz") as f:
        mel = torch.from_numpy(np.stack([f["syncnet_mel_window_0"], f["syncnet_mel_window_16"]])).float()
    return frames, mel  # mel (2, 1, 80, 52): LatentSync's own windows at frames 0 and 16


@pytest.mark.parametrize("kind", ["attn", "plain"])
def test_full_latentsync_configs_give_latentsync_keys_and_shapes(kind, syncnet_ref):
    with torch.device("meta"):
        model = LatentSyncSyncNet.from_latentsync_config({"model": FULL_MODEL_YAML[kind]})
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == syncnet_ref[f"full_keys_{kind}"]  # same names, shapes and order as LatentSync's StableSyncNet


def test_checkpoint_is_fp16_and_every_tensor_was_perturbed(syncnet_state):
    sd = syncnet_state["state_dict"]
    assert all(v.dtype == torch.float16 for v in sd.values())
    for k, v in sd.items():  # norms off 1, biases off 0: a skipped tensor changes the output
        if k.endswith("bias") or v.dim() == 1:
            assert not torch.all(v == v.flatten()[0]), k


def test_syncnet_embeddings_and_cosine_match_latentsync(syncnet, syncnet_ref, syncnet_inputs):
    frames, mel = syncnet_inputs
    with torch.no_grad():
        vision, audio = syncnet(frames, mel)
        vision_stacked = syncnet.embed_video(syncnet.stack_lower_half(frames))  # LatentSync's (B, 48, 128, 256)
        cos = syncnet.sync_probability(vision, audio)
        v_swap, a_swap = syncnet(frames.flip(0), mel)
    assert syncnet.stack_lower_half(frames).shape == (2, 48, 128, 256)
    assert_close(vision, syncnet_ref["vision_embeds"], "vision embeddings")
    assert_close(vision_stacked, syncnet_ref["vision_embeds"], "vision embeddings (pre-stacked input)")
    assert_close(audio, syncnet_ref["audio_embeds"], "audio embeddings")
    assert_close(cos, syncnet_ref["cosine"], "cosine")
    assert_close(syncnet.sync_probability(v_swap, a_swap), syncnet_ref["cosine_swapped"], "cosine (swapped)")
    assert bool(((cos >= 0) & (cos <= 1)).all())
    loss = syncnet.sync_loss(vision, audio, torch.ones(2, 1))
    torch.testing.assert_close(loss, -torch.log(cos))


@pytest.mark.parametrize("key", [
    "visual_encoder.down_blocks.0.norm1.weight",  # a resnet GroupNorm scale
    "visual_encoder.down_blocks.5.norm3.bias",  # an attention block's LayerNorm
    "audio_encoder.down_blocks.0.downsample_conv.bias",  # the (2, 1) pad-then-stride conv
])
def test_a_tensor_left_at_its_initial_value_breaks_parity(key, syncnet_state, syncnet_ref, syncnet_inputs):
    model = LatentSyncSyncNet.from_latentsync_config(FIXTURES / "syncnet_small.yaml")
    load_latentsync_syncnet_state(model, syncnet_state).eval()
    fresh = LatentSyncSyncNet.from_latentsync_config(FIXTURES / "syncnet_small.yaml").state_dict()
    model.load_state_dict({**model.state_dict(), key: fresh[key]})
    frames, mel = syncnet_inputs
    with torch.no_grad():
        vision, audio = model(frames, mel)
    ref = syncnet_ref["vision_embeds"] if key.startswith("visual") else syncnet_ref["audio_embeds"]
    out = vision if key.startswith("visual") else audio
    with pytest.raises(AssertionError, match="max abs diff"):
        assert_close(out, ref, key)


def test_loader_names_every_leftover_key(syncnet_state):
    sd = dict(syncnet_state["state_dict"])
    dropped = "visual_encoder.down_blocks.4.downsample_conv.weight"
    del sd[dropped]
    sd["audio_encoder.extra.weight"] = torch.zeros(1)
    sd["audio_encoder.norm_out.weight"] = torch.zeros(3)
    model = LatentSyncSyncNet.from_latentsync_config(FIXTURES / "syncnet_small.yaml")
    with pytest.raises(KeyError) as err:
        load_latentsync_syncnet_state(model, {"state_dict": sd})
    msg = str(err.value)
    assert dropped in msg and "audio_encoder.extra.weight" in msg and "audio_encoder.norm_out.weight" in msg
    load_latentsync_syncnet_state(model, syncnet_state["state_dict"])  # a bare state dict loads too


# ============================================================================ Whisper per-frame features
@pytest.fixture(scope="module")
def audio_ref():
    with np.load(FIXTURES / "latentsync_audio.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def whisper_ckpt():
    return torch.load(FIXTURES / "whisper_small.pt", weights_only=True)


@pytest.fixture(scope="module")
def whisper(whisper_ckpt):
    return WhisperFrameEncoder.from_openai_checkpoint(whisper_ckpt)


@pytest.fixture(scope="module")
def clips(audio_ref):
    short, long = make_audio(SHORT_SAMPLES, SHORT_SEED), make_audio(LONG_SAMPLES, LONG_SEED)
    assert sha256(short) == str(audio_ref["short_audio_sha256"])
    assert sha256(long) == str(audio_ref["long_audio_sha256"])
    return {"short": short, "long": long}


def test_whisper_checkpoint_is_openai_format_fp16(whisper_ckpt, whisper):
    assert set(whisper_ckpt) == {"dims", "model_state_dict"}
    assert all(v.dtype == torch.float16 for v in whisper_ckpt["model_state_dict"].values())
    assert whisper.tokens_per_frame == 50 and whisper.d_model == 64  # tiny: 50 x 384
    assert next(whisper.parameters()).dtype == torch.float32


def test_key_mapping_is_transformers_converter(whisper_ckpt, whisper):
    """Our table is the converter's, entry for entry and in its order (the order matters: substring replaces).

    The converter is in transformers' source tree only, so its table is a fixture read from that file by
    ``tools/fixtures/extract_whisper_mapping.py``; and the renamed encoder keys are exactly the keys of
    transformers' own ``WhisperEncoder``, with nothing left over on either side.
    """
    upstream = json.loads((FIXTURES.parent / "transformers" / "whisper_mapping.json").read_text())
    assert list(WHISPER_MAPPING.items()) == [(k, upstream["WHISPER_MAPPING"][k]) for k in upstream["order"]]
    hf = openai_to_hf_keys(whisper_ckpt["model_state_dict"])
    encoder_keys = {k[len("encoder."):] for k in hf if k.startswith("encoder.")}
    assert encoder_keys == set(whisper.encoder.state_dict())
    assert all(k.startswith(("encoder.", "decoder.")) for k in hf), sorted(hf)


@pytest.mark.parametrize("name", ["short", "long"])
def test_step_features_match_latentsync(name, whisper, clips, audio_ref):
    steps = whisper.step_features(clips[name])
    n_samples = len(clips[name])
    assert steps.shape == (int(audio_ref[f"{name}_n_steps"]), 5, 64)
    assert steps.shape[0] == n_samples // 320
    if name == "short":
        assert_close(steps, audio_ref["short_steps"], "short clip steps")
    else:  # across the 30 s segment boundary (step 1500)
        assert_close(steps[1490:1510], audio_ref["long_steps_1490_1510"], "long clip steps 1490..1509")


@pytest.mark.parametrize("name", ["short", "long"])
def test_clip_features_match_latentsync_at_both_edges(name, whisper, clips, audio_ref):
    audio = clips[name]
    n_chunks = int(audio_ref[f"{name}_n_chunks"])
    assert latentsync_n_chunks(int(audio_ref[f"{name}_n_steps"])) == n_chunks
    feats = whisper.clip_features(audio, n_chunks)
    assert feats.shape == (n_chunks, 50, 64) and feats.dtype == torch.float32
    frames = [int(i) for i in audio_ref[f"{name}_chunk_frames"]]
    assert frames[0] == 0 and frames[-1] == n_chunks - 1 and int(audio_ref[f"{name}_n_video_frames"]) - 1 in frames
    for row, i in enumerate(frames):
        assert_close(feats[i], audio_ref[f"{name}_chunks"][row], f"{name} clip, frame {i}")
    default = whisper.clip_features(audio)  # ceil(N / 640) frames
    assert default.shape[0] == math.ceil(len(audio) / 640)
    torch.testing.assert_close(default, feats[: default.shape[0]], rtol=0, atol=0)
    as_float = whisper.clip_features(audio.astype(np.float32) / 32768.0, n_chunks)
    torch.testing.assert_close(as_float, feats, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["short", "long"])
def test_training_windows_match_latentsync(name, whisper, clips, audio_ref):
    """UNetDataset's ``crop_overlap_audio_window(audio_feat, start)`` (rows 0, 1, 14, 15 of 16 stored)."""
    audio, start = clips[name], int(audio_ref[f"{name}_train_window_start"])
    ref = audio_ref[f"{name}_train_window"]
    batched = whisper.window_features([clips["short"], audio], [0, start], n_frames=16)
    assert batched.shape == (2, 16, 50, 64)
    assert_close(batched[1, [0, 1, 14, 15]], ref, f"{name} training window (batched)")
    inputs = whisper.window_inputs()(audio, len(audio) // 640, start, 16, None)
    assert inputs["audio_n_segments"] == (2 if name == "long" else 1)  # frames 740.. read steps 1476..1515
    batch = {k: torch.as_tensor(np.asarray(v))[None] for k, v in inputs.items()}
    tokens = whisper.window_tokens(batch, 16)
    assert_close(tokens[0, [0, 1, 14, 15]], ref, f"{name} training window (loader inputs)")


def test_window_layout_is_step_major_layer_fastest(whisper, clips):
    steps = whisper.step_features(clips["short"])  # (65, 5, 64)
    feats = whisper.clip_features(clips["short"], 40)
    assert list(WINDOW_OFFSETS) == list(range(-4, 6))
    idx = frame_step_indices(torch.arange(40), steps.shape[0])
    assert idx[0].tolist() == [0] * 5 + [1, 2, 3, 4, 5]  # left edge clamped
    assert idx[39].tolist() == [64] * 10  # past the audio: the last step repeated
    for i in (0, 7, 31, 39):
        for row in (0, 4, 5, 23, 49):
            s, layer = divmod(row, 5)
            torch.testing.assert_close(feats[i, row], steps[idx[i, s], layer], rtol=0, atol=0)


def test_whisper_loader_names_missing_and_leftover_keys(whisper_ckpt):
    sd = dict(whisper_ckpt["model_state_dict"])
    del sd["encoder.blocks.2.mlp.2.bias"]
    sd["encoder.blocks.9.attn.query.weight"] = torch.zeros(64, 64)
    sd["encoder.conv1.bias"] = torch.zeros(3)
    with pytest.raises(KeyError) as err:
        encoder_from_openai_checkpoint({"dims": whisper_ckpt["dims"], "model_state_dict": sd})
    msg = str(err.value)
    assert "layers.2.fc2.bias" in msg and "layers.9.self_attn.q_proj.weight" in msg and "conv1.bias" in msg


def test_transformers_folder_round_trip(whisper, clips, tmp_path):
    from transformers import WhisperModel

    model = WhisperModel(whisper.encoder.config)
    model.encoder.load_state_dict(whisper.encoder.state_dict())
    model.save_pretrained(tmp_path)
    again = WhisperFrameEncoder.from_pretrained(tmp_path)
    torch.testing.assert_close(again.clip_features(clips["short"], 8), whisper.clip_features(clips["short"], 8),
                               rtol=0, atol=0)
    rebuilt = WhisperFrameEncoder(**whisper.init_kwargs)  # random weights, same shapes
    assert rebuilt.tokens_per_frame == whisper.tokens_per_frame and rebuilt.d_model == whisper.d_model
