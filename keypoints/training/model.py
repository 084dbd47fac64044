"""LipNet: a small dilated convolutional network, log-mel frames -> lip keypoints (torch).

All convolutions are 'valid' (no padding), so an input of T frames gives T - RF + 1 outputs
(RF = receptive field); output j belongs to input frame j + context_past. The look-ahead is
context_future = RF - 1 - context_past frames: the streaming model needs no state.

  features float[B, n_mels, T]
    -> (x - mel_mean) / mel_std                             fixed, from the training corpus
    -> Conv(n_mels -> C, k=3) + ReLU
    -> for d in DILATIONS: x = crop(x) + ReLU(Conv(C -> C, k=3, dilation=d))   residual blocks
    -> Conv(C -> C, k=1) + ReLU -> Conv(C -> K*3, k=1) + rest keypoints (flattened)
  keypoints float[B, T - RF + 1, K, 3]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn


class DilatedStack:
    """The window of a 'valid' dilated stack (a config dataclass with ``dilations`` and
    ``context_future``): shared by the lips' and the shapes' networks."""

    dilations: tuple[int, ...]
    context_future: int

    @property
    def receptive_field(self) -> int:
        """Input frames per output frame: 3 for the first conv, 2 d per residual block."""
        return 3 + sum(2 * d for d in self.dilations)

    @property
    def context_past(self) -> int:
        return self.receptive_field - 1 - self.context_future

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LipNetConfig(DilatedStack):
    """n_mels bands in; channels C; dilations of the residual blocks (k=3 each);
    n_keypoints K out; context_future (frames of look-ahead, <= RF - 1)."""

    n_mels: int = 80
    channels: int = 96
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16)
    n_keypoints: int = 6
    context_future: int = 3



class LipNet(nn.Module):
    def __init__(self, config: LipNetConfig, mel_mean: np.ndarray, mel_std: np.ndarray,
                 rest: np.ndarray) -> None:
        super().__init__()
        if not 0 <= config.context_future < config.receptive_field:
            raise ValueError("context_future must be in [0, receptive_field)")
        self.config = config
        c = config.channels
        self.register_buffer("mel_mean", torch.tensor(mel_mean, dtype=torch.float32)[:, None])
        inv_std = 1.0 / torch.tensor(mel_std, dtype=torch.float32)[:, None]
        self.register_buffer("mel_inv_std", inv_std)
        self.register_buffer("rest", torch.tensor(rest, dtype=torch.float32).reshape(-1))
        self.inp = nn.Conv1d(config.n_mels, c, 3)
        self.blocks = nn.ModuleList(nn.Conv1d(c, c, 3, dilation=d) for d in config.dilations)
        self.mix = nn.Conv1d(c, c, 1)
        self.head = nn.Conv1d(c, config.n_keypoints * 3, 1)
        nn.init.zeros_(self.head.weight)  # start at the rest pose
        nn.init.zeros_(self.head.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """float[B, n_mels, T] -> float[B, T - RF + 1, K, 3]."""
        x = (features - self.mel_mean) * self.mel_inv_std
        x = torch.relu(self.inp(x))
        for conv, d in zip(self.blocks, self.config.dilations, strict=True):
            x = x[:, :, d:-d] + torch.relu(conv(x))
        x = torch.relu(self.mix(x))
        y = self.head(x) + self.rest[None, :, None]  # [B, K*3, T']
        b, _, t = y.shape
        return y.transpose(1, 2).reshape(b, t, self.config.n_keypoints, 3)
