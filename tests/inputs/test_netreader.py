"""Unit tests of the network reader's pure parts: block splitting and resuming."""

from __future__ import annotations

import numpy as np

from captioner.inputs.netreader import BlockSplitter, skip_until


def test_splitter_cuts_fixed_blocks_per_input_and_flushes_the_rest():
    splitter = BlockSplitter({"floor": 0, "booth": 1, "mix": -1}, block=4)
    planes = np.stack([np.arange(10, dtype=np.float32), -np.arange(10, dtype=np.float32)])
    blocks = splitter.feed(planes[:, :3]) + splitter.feed(planes[:, 3:])
    assert [offset for offset, _ in blocks] == [0, 4]
    offset, arrays = blocks[1]
    assert arrays["floor"].tolist() == [4, 5, 6, 7]
    assert arrays["booth"].tolist() == [-4, -5, -6, -7]
    assert arrays["mix"].tolist() == [0, 0, 0, 0]
    assert all(a.dtype == np.float32 and a.flags.c_contiguous for a in arrays.values())
    ((offset, rest),) = splitter.flush()
    assert offset == 8 and rest["floor"].tolist() == [8, 9]
    assert splitter.flush() == []


def test_skip_until_drops_what_was_delivered_before_a_reconnect():
    planes = np.arange(10, dtype=np.float32)[None, :]
    assert skip_until(planes, 0, 0)[0].shape == (1, 10)
    rest, end = skip_until(planes, 100, 104)
    assert rest[0].tolist() == [4, 5, 6, 7, 8, 9] and end == 110
    rest, end = skip_until(planes, 0, 50)
    assert rest.shape == (1, 0) and end == 10
