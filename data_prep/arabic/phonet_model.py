"""Frame-level phone posteriors from phonet's released phoneme recogniser, run in torch.

The built-in aligner needs an acoustic model that is the same for every
speaker, and none for Arabic can be had offline. phonet (Vásquez-Correa et
al., MIT licence, ``pip install --no-deps phonet==0.3.7``) ships, inside its
PyPI package, a 2-layer bidirectional GRU trained on Spanish speech that gives
posteriors of 36 phones (Spanish phonemes plus silence) every 10 ms. Spanish
shares most of Arabic's consonants and its three vowel qualities, so mapped
Arabic phones (data_prep/arabic/posterior_margin.py) can be scored against
those posteriors on any voice. On real Arabic recordings this separates right
transcripts from wrong ones far better than any spectral distance to an
espeak-ng template (README, "Alignment on real speech").

Only the weights are used: phonet's own code needs TensorFlow, so the network
is rebuilt here -- 34 log mel-filterbank energies (python_speech_features, as
phonet computes them), batch norm, two Keras GRUs with ``reset_after=False``
(the reset gate multiplies the state *before* the recurrent matrix, which
``torch.nn.GRU`` cannot express), a dense ReLU layer and a softmax. phonet
cuts the features into independent 40-frame sequences, normalised per
position with its shipped mean and deviation; so does this.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch

# np.unique of phonet's phonological classes' phone lists (phonet/Phonological.py): the output order
PHONES = ["<p:>", "B", "D", "F", "G", "J", "L", "N", "S", "T", "Z", "a", "b", "d", "e", "f", "g", "i", "j",
          "jj", "k", "l", "m", "n", "o", "p", "r", "rr", "s", "sil", "t", "tS", "u", "w", "x", "z"]
WEIGHT_FILES = ("phonemes.hdf5", "mu.npy", "std.npy")
SEQ_LEN, N_FILT, HOP_S = 40, 33, 0.010
INSTALL_HINT = ("pip install --no-deps phonet==0.3.7 (only its weight files are used, not its TensorFlow code), "
                "or give a folder holding phonemes.hdf5, mu.npy and std.npy")


class PhonetUnavailable(RuntimeError):
    """phonet's weights are not installed (or the given folder lacks them)."""


def weights_folder(source: str = "phonet") -> Path:
    """``"phonet"``: the installed package's ``models/`` folder; anything else: a local folder."""
    if source == "phonet":
        spec = importlib.util.find_spec("phonet")  # located, not imported: importing it needs TensorFlow
        if spec is None or not spec.submodule_search_locations:
            raise PhonetUnavailable(f"the phonet package is not installed; {INSTALL_HINT}")
        folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    else:
        folder = Path(source).expanduser()
    missing = [name for name in WEIGHT_FILES if not (folder / name).is_file()]
    if missing:
        raise PhonetUnavailable(f"phonet weights: {folder} lacks {', '.join(missing)}; {INSTALL_HINT}")
    return folder


def _keras_gru(x: torch.Tensor, kernel: torch.Tensor, recurrent: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """(B, T, F) -> (B, T, U): a Keras GRU with reset_after=False, gates ordered z, r, h."""
    units = recurrent.shape[0]
    projected = x @ kernel + bias  # (B, T, 3U)
    rz, rr, rh = recurrent[:, :units], recurrent[:, units:2 * units], recurrent[:, 2 * units:]
    h = x.new_zeros(x.shape[0], units)
    out = []
    for t in range(x.shape[1]):
        xz, xr, xh = projected[:, t].split(units, dim=-1)
        z = torch.sigmoid(xz + h @ rz)
        r = torch.sigmoid(xr + h @ rr)
        h = z * h + (1 - z) * torch.tanh(xh + (r * h) @ rh)
        out.append(h)
    return torch.stack(out, 1)


class PhonetPhoneModel:
    """phonet's phoneme recogniser: ``posteriors(audio16k)`` -> (T, 36) probabilities over :data:`PHONES`."""

    def __init__(self, source: str = "phonet"):
        import h5py

        self.folder = weights_folder(source)
        self.mu = np.load(self.folder / "mu.npy")  # (SEQ_LEN, 34)
        self.std = np.load(self.folder / "std.npy")
        with h5py.File(self.folder / "phonemes.hdf5", "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            self.w = {}
            group.visititems(lambda name, obj: self.w.__setitem__(name.split("/", 1)[1].removesuffix(":0"),
                                                                   torch.tensor(np.asarray(obj), dtype=torch.float32))
                             if hasattr(obj, "shape") else None)
        n_out = self.w["time_distributed_2/bias"].shape[0]
        if n_out != len(PHONES):
            raise ValueError(f"{self.folder / 'phonemes.hdf5'}: {n_out} outputs, expected {len(PHONES)} (phonet 0.3.7)")

    def features(self, audio16k: np.ndarray) -> np.ndarray:
        """(n,) at 16 kHz -> (T, 34) log10 mel-filterbank energies + frame energy, as phonet computes them."""
        import python_speech_features as psf

        sig = np.asarray(audio16k, np.float64)
        sig = sig - sig.mean()
        sig = sig / max(np.abs(sig).max(), 1e-9)
        # phonet pads one sequence of faint noise, so the last partial sequence is scored too
        tail = 0.05 * np.random.default_rng(0).normal(size=int(SEQ_LEN * HOP_S * 16000))
        fbank, energy = psf.fbank(np.concatenate([sig, tail]), samplerate=16000, winlen=0.025, winstep=HOP_S,
                                  nfilt=N_FILT, nfft=512, lowfreq=0, highfreq=None, preemph=0.97)
        return np.log10(np.concatenate([fbank, energy[:, None]], axis=1))

    def _bigru(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        def gru(direction: str, seq: torch.Tensor) -> torch.Tensor:
            p = f"bidirectional_{layer}/{direction}_gru_{layer}/"
            return _keras_gru(seq, self.w[p + "kernel"], self.w[p + "recurrent_kernel"], self.w[p + "bias"])
        return torch.cat([gru("forward", x), gru("backward", x.flip(1)).flip(1)], dim=-1)

    @torch.no_grad()
    def posteriors(self, audio16k: np.ndarray) -> np.ndarray:
        feats = self.features(audio16k)
        n_seq = feats.shape[0] // SEQ_LEN
        x = (feats[: n_seq * SEQ_LEN].reshape(n_seq, SEQ_LEN, -1) - self.mu) / self.std
        x = torch.tensor(x, dtype=torch.float32)
        bn = "batch_normalization_1/"
        x = (x - self.w[bn + "moving_mean"]) / torch.sqrt(self.w[bn + "moving_variance"] + 1e-3)
        x = x * self.w[bn + "gamma"] + self.w[bn + "beta"]
        x = self._bigru(self._bigru(x, 1), 2)
        x = torch.relu(x @ self.w["time_distributed_1/kernel"] + self.w["time_distributed_1/bias"])
        probs = torch.softmax(x @ self.w["time_distributed_2/kernel"] + self.w["time_distributed_2/bias"], dim=-1)
        n_frames = min(len(audio16k) // int(HOP_S * 16000) - 1, n_seq * SEQ_LEN)
        return probs.reshape(-1, len(PHONES))[: max(n_frames, 0)].numpy()


@functools.lru_cache(maxsize=4)
def load_phone_model(source: str = "phonet") -> PhonetPhoneModel:
    """One model per weights source and process (loading reads ~5 MB of HDF5)."""
    return PhonetPhoneModel(source)
