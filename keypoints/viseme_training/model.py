"""ShapeNet: a small dilated CNN, log-mel frames -> logits of the nine mouth shapes (torch).

The same causal layout as the lips' network (all convolutions 'valid', so the model needs no
state and gives the same numbers whole-file or chunked): output j belongs to input frame
j + context_past, with context_future frames of look-ahead (3 = the lips' 30 ms).

  features float[B, n_mels, T] -> (x - mel_mean) / mel_std -> Conv(k 3) + ReLU
    -> residual blocks Conv(k 3, dilation d) + ReLU -> Conv(1x1) + ReLU -> Conv(1x1) -> logits
  logits float[B, 9, T - RF + 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from keypoints.training.model import DilatedStack
from keypoints.visemes import SHAPES


@dataclass(frozen=True)
class ShapeNetConfig(DilatedStack):
    n_mels: int = 80
    channels: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16)
    context_future: int = 3



class ShapeNet(nn.Module):
    def __init__(self, config: ShapeNetConfig, mel_mean: np.ndarray, mel_std: np.ndarray
                 ) -> None:
        super().__init__()
        if not 0 <= config.context_future < config.receptive_field:
            raise ValueError("context_future must be in [0, receptive_field)")
        self.config = config
        c = config.channels
        self.register_buffer("mel_mean", torch.tensor(mel_mean, dtype=torch.float32)[:, None])
        self.register_buffer("mel_inv_std",
                             1.0 / torch.tensor(mel_std, dtype=torch.float32)[:, None])
        self.inp = nn.Conv1d(config.n_mels, c, 3)
        self.blocks = nn.ModuleList(nn.Conv1d(c, c, 3, dilation=d) for d in config.dilations)
        self.mix = nn.Conv1d(c, c, 1)
        self.head = nn.Conv1d(c, len(SHAPES), 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """float[B, n_mels, T] -> logits float[B, 9, T - RF + 1]."""
        x = (features - self.mel_mean) * self.mel_inv_std
        x = torch.relu(self.inp(x))
        for conv, d in zip(self.blocks, self.config.dilations, strict=True):
            x = x[:, :, d:-d] + torch.relu(conv(x))
        return self.head(torch.relu(self.mix(x)))
