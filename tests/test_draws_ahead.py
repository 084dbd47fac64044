"""animator.stages.draws_ahead: normals drawn in blocks, the generator's stream exact."""

from __future__ import annotations

import numpy as np
import pytest

from animator.stages.draws_ahead import NormalsAhead


@pytest.mark.parametrize("block", [1, 3, 7, 75])
def test_blocks_give_the_numbers_and_leave_the_stream_of_one_draw_at_a_time(block):
    """Takes of 3 with other draws from the generator in between (after sync), at irregular
    moments: the same normals and the same other draws as drawing each when used."""
    ahead_rng, plain = np.random.default_rng(11), np.random.default_rng(11)
    ahead = NormalsAhead(ahead_rng, block)
    events = np.random.default_rng(2).random(400)
    got, want = [], []
    for e in events:
        if e < 0.1:  # another draw: a re-draw of the oscillators, say
            ahead.sync()
            got.append(ahead_rng.uniform(0.0, 3.0))
            want.append(plain.uniform(0.0, 3.0))
        else:
            got += ahead.take(3)
            want += [plain.standard_normal() for _ in range(3)]
    assert got == want
    ahead.sync()
    assert ahead_rng.bit_generator.state == plain.bit_generator.state


def test_a_sync_right_after_a_block_is_used_up_moves_nothing():
    rng = np.random.default_rng(0)
    ahead = NormalsAhead(rng, 6)
    first = ahead.take(3) + ahead.take(3)
    state = rng.bit_generator.state
    ahead.sync()
    assert rng.bit_generator.state == state
    assert first == np.random.default_rng(0).standard_normal(6).tolist()
