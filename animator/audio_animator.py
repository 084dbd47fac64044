"""Speech in, frames out: audio samples -> MappingNet lip frames -> :class:`Engine` frames.

The audio path of the engine in one object, for code that holds samples and wants frames
(benchmarks, tests, embedding). The product's commands run the same pieces through the frame
loop (animator.live.loop), which adds clocks, sources and sinks.
"""

from __future__ import annotations

import numpy as np

from animator.core.types import Frame
from animator.engine import Engine, EngineConfig
from animator.rig import Rig
from keypoints.mappingnet import MappingNet
from keypoints.stream import AudioLipStream


class AudioAnimator:
    """Audio samples -> MappingNet lip frames -> :class:`Engine` frames."""

    def __init__(self, rig: Rig, model: MappingNet, config: EngineConfig | None = None) -> None:
        self.model = model
        self.lips = AudioLipStream(model)
        self.engine = Engine(rig, config)
        self.sample_rate = model.feature_config.sample_rate
        self._n_samples = 0

    def push_audio(self, samples: np.ndarray) -> list[Frame]:
        """samples: float32[n] mono at ``sample_rate``."""
        self._n_samples += len(samples)
        return self.engine.push(self.lips.push(samples))

    def finish(self) -> list[Frame]:
        frames = self.engine.push(self.lips.flush())
        return frames + self.engine.finish(self._n_samples / self.sample_rate)

    @property
    def latency_ms(self) -> float:
        """Algorithmic latency of the audio path (model look-ahead + half a window)."""
        return 1000.0 * self.model.algorithmic_latency_s
