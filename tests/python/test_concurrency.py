"""Many Python threads calling the operator at once, on different inputs, get exactly
the results of serial calls; a failing call in one thread reports its own error while
other threads succeed or fail with theirs."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import groupquant
import numpy as np
import pytest
import torch
from conftest import FLOAT_DTYPES, INDEX_DTYPES, OFFSET_KINDS, bits, call, make_inputs

THREADS = 8


def random_problem(i: int) -> dict:
    rng = np.random.default_rng(1000 + i)
    m = int(rng.choice([1, 7, 33, 130, 700]))
    n = 8 * int(rng.integers(1, 33))
    g = int(rng.integers(1, 7))
    inputs = make_inputs(
        m,
        n,
        g=g,
        x_dtype=FLOAT_DTYPES[i % 3],
        scale_dtype=FLOAT_DTYPES[(i // 3) % 3],
        index_dtype=INDEX_DTYPES[i % 2],
        offset=OFFSET_KINDS[i % 3],
        seed=i,
    )
    if i % 4 == 1:  # a transposed x: the strided path
        inputs["x"] = inputs["x"].t().contiguous().t()
    inputs["dst_dtype"] = torch.quint4x2 if i % 2 else None
    return inputs


@pytest.mark.parametrize("torch_threads", [1, 2])
def test_threads_match_serial_calls(torch_threads, restore_num_threads):
    torch.set_num_threads(torch_threads)  # set before the threads start, never during
    problems = [random_problem(i) for i in range(48)]
    serial = [call(p, p["dst_dtype"]) for p in problems]
    order = [i for i in range(len(problems)) for _ in range(3)]
    random.Random(torch_threads).shuffle(order)
    start = threading.Barrier(THREADS)

    def work(chunk):
        start.wait()
        return [(i, call(problems[i], problems[i]["dst_dtype"])) for i in chunk]

    chunks = [order[t::THREADS] for t in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for chunk in pool.map(work, chunks) for r in chunk]
    assert len(results) == len(order)
    for i, y in results:
        assert torch.equal(bits(y), bits(serial[i])), f"problem {i}"


def test_errors_stay_with_their_thread():
    # Each thread alternates a failing call, whose message carries a value unique to the
    # thread and iteration, with a succeeding one.
    x, scale = torch.ones(4, 8), torch.full((2, 8), 2.0)
    want = groupquant.npu_group_quant(x, scale, torch.tensor([1, 4]))
    start = threading.Barrier(THREADS)
    problems = []

    def work(t):
        start.wait()
        for i in range(200):
            bad = -(t * 100000 + i) - 1
            try:
                groupquant.npu_group_quant(x, scale, torch.tensor([bad, 4]))
                problems.append(f"thread {t}: bad call accepted")
            except RuntimeError as e:
                message = str(e).splitlines()[0]
                if message != f"group_index values must be non-negative: group_index[0]={bad}":
                    problems.append(f"thread {t}: {message}")
            if not torch.equal(groupquant.npu_group_quant(x, scale, torch.tensor([1, 4])), want):
                problems.append(f"thread {t}: wrong result")

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(THREADS)))
    assert problems == []
