"""Standard normal draws made ahead in blocks, with the generator's stream kept exactly as if
each had been drawn when used.

Why: a draw of an array from a numpy Generator lets go of the GIL (its fill runs without
it), and in an offline render the loop then waits for the lip threads to hand it back (~25
us a draw, measured); a draw of one number keeps the GIL but costs ~1 us in numpy's Python
layer. A block of draws does both once per block.

How the stream stays exact: a block is drawn from a saved state of the generator, and
before any other draw from it (:meth:`NormalsAhead.sync`) the state is put back and only
the normals used are drawn again, which leaves it where drawing each one when used would
have (numpy fills an array of normals one after the other, as single draws).
"""

from __future__ import annotations

import numpy as np


class NormalsAhead:
    """Standard normals of ``rng``, ``block`` at a time. The generator may be used for other
    draws only after :meth:`sync`."""

    def __init__(self, rng: np.random.Generator, block: int) -> None:
        if block < 1:
            raise ValueError("block must be >= 1")
        self._rng, self._block = rng, block
        self._ahead: list[float] = []
        self._used = 0
        self._state: dict | None = None  # the generator's state before the block

    def take(self, n: int) -> list[float]:
        """The next ``n`` normals (n <= block)."""
        if self._used + n > len(self._ahead):
            self.sync()
            self._state = self._rng.bit_generator.state
            self._ahead = self._rng.standard_normal(max(n, self._block)).tolist()
        used, self._used = self._used, self._used + n
        return self._ahead[used:used + n]

    def sync(self) -> None:
        """Leave the generator where drawing each normal taken when it was taken would have
        (call before any other draw from it)."""
        if self._used < len(self._ahead):  # drawn ahead and not used: draw only the used
            self._rng.bit_generator.state = self._state
            if self._used:
                self._rng.standard_normal(self._used)
        self._ahead, self._used = [], 0
