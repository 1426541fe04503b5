import threading

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from nlmeans_cli.engine import even_spans, mix_channels, on_engine_threads, set_engine_threads
from nlmeans_cli.pixels import OPPONENT


def numpy_mix(matrix, maps):
    """The plain element-wise expression, each product rounded and added in channel order."""
    maps = maps.astype(np.float32)
    out = []
    for row in np.asarray(matrix):
        total = np.float32(row[0]) * maps[0]
        for weight, channel in zip(row[1:], maps[1:], strict=True):
            total = total + np.float32(weight) * channel
        out.append(total)
    return np.stack(out)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("matrix", [OPPONENT, OPPONENT.T, np.arange(8.0).reshape(2, 4) - 3.5],
                         ids=["opponent", "back", "four-to-two"])
def test_mixing_channels_gives_numpys_element_wise_sums_bit_for_bit(matrix, threads):
    rng = np.random.default_rng(4)
    # Positions neither a multiple of the kernel's block nor of the thread count.
    maps = rng.normal(0, 1, (matrix.shape[1], 37, 1, 211)).astype(np.float32)
    try:
        set_engine_threads(threads)
        mixed = mix_channels(matrix, maps)
    finally:
        set_engine_threads(None)
    assert mixed.dtype == np.float32 and mixed.shape == (matrix.shape[0], 37, 1, 211)
    assert_array_equal(mixed, numpy_mix(matrix, maps))


def test_mixing_to_opponent_colours_and_back_returns_the_colours():
    rng = np.random.default_rng(5)
    planes = rng.uniform(0, 1, (3, 20, 1, 30))
    back = mix_channels(OPPONENT.T, mix_channels(OPPONENT, planes))
    assert np.abs(back - planes).max() < 1e-6
    assert not np.shares_memory(back, planes)


def test_mixing_takes_float64_and_non_contiguous_maps():
    rng = np.random.default_rng(6)
    maps = rng.uniform(0, 1, (9, 3))  # channels last: its transpose is not contiguous
    assert_array_equal(mix_channels(OPPONENT, maps.T), numpy_mix(OPPONENT, maps.T))


@pytest.mark.parametrize("matrix, shape", [(np.eye(3)[0], (3, 4)), (np.eye(3), (2, 4)),
                                           (np.eye(3), ()), (np.zeros((2, 0)), (0, 4))])
def test_a_matrix_that_does_not_fit_the_channels_is_refused(matrix, shape):
    with pytest.raises(ValueError, match=r"\(D, C\) matrix maps C channels"):
        mix_channels(matrix, np.zeros(shape, np.float32))


def test_engine_threads_run_every_share_once_the_first_on_the_calling_thread():
    seen = []
    lock = threading.Lock()

    def work(share):
        with lock:
            seen.append((share, threading.current_thread() is threading.main_thread()))

    on_engine_threads(work, ["a", "b", "c"])
    assert sorted(seen) == [("a", True), ("b", False), ("c", False)]


def test_engine_threads_raise_a_shares_error_after_every_share_ran():
    ran = []

    def work(share):
        ran.append(share)
        if share == 2:
            raise RuntimeError("share 2 failed")

    with pytest.raises(RuntimeError, match="share 2 failed"):
        on_engine_threads(work, [1, 2, 3])
    assert sorted(ran) == [1, 2, 3]


@pytest.mark.parametrize("n, parts", [(0, 2), (1, 3), (7, 2), (10, 3), (5, 8)])
def test_even_spans_cover_the_range_in_order_with_at_most_the_parts_asked(n, parts):
    spans = even_spans(n, parts)
    assert 1 <= len(spans) <= max(1, min(parts, n))
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    lengths = [hi - lo for lo, hi in spans]
    assert max(lengths) - min(lengths) <= 1
