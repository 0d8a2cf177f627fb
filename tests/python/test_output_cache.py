"""The memory behind large fresh outputs (python/groupquant/csrc/empty_output.h): 2 MiB-
aligned blocks advised for huge pages, and the bounded cache that reuses freed ones."""

import os
import subprocess
import sys
import threading

import groupquant
import pytest
import torch
from conftest import make_inputs

from reference import npu_group_quant_ref

MIB = 1 << 20
LARGE = (1024, 4096)  # int8 output: 4 MiB, two huge pages


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache and the default limit, and leaves it so."""
    limit = groupquant.output_cache_info()["limit_bytes"]
    groupquant.empty_cache()
    yield
    groupquant.set_output_cache_limit(limit)
    groupquant.empty_cache()


def quant(m=LARGE[0], n=LARGE[1], seed=0, **kw):
    inputs = make_inputs(m, n, g=4, x_dtype=torch.bfloat16, seed=seed)
    return inputs, groupquant.npu_group_quant(**inputs, **kw)


def held():
    return groupquant.output_cache_info()["held_bytes"]


def test_large_outputs_are_2mib_aligned_and_small_ones_untouched():
    before = groupquant.output_cache_info()
    _, y = quant()
    assert y.data_ptr() % (2 * MIB) == 0
    after = groupquant.output_cache_info()
    assert after["misses"] == before["misses"] + 1
    # Below 2 MiB: torch's allocator; the cache neither serves nor keeps it.
    _, small = quant(m=64, n=4096)
    del small
    assert groupquant.output_cache_info()["misses"] == after["misses"]
    assert held() == 0


def test_a_freed_output_is_reused_and_fully_rewritten():
    inputs, y = quant(seed=1)
    ptr = y.data_ptr()
    assert torch.equal(y, npu_group_quant_ref(**inputs))
    del y
    assert held() == 4 * MIB
    hits = groupquant.output_cache_info()["hits"]
    # Other data into the same block: every byte is the new call's.
    inputs, y = quant(seed=2)
    assert y.data_ptr() == ptr
    assert groupquant.output_cache_info()["hits"] == hits + 1 and held() == 0
    assert torch.equal(y, npu_group_quant_ref(**inputs))


def test_dynamic_quant_outputs_come_from_the_cache_too():
    x = torch.randn(2048, 4096, dtype=torch.float16)
    y, scale = groupquant.npu_dynamic_quant(x)
    assert y.data_ptr() % (2 * MIB) == 0
    want_y, want_scale = y.clone(), scale.clone()
    del y
    assert held() == 8 * MIB
    y, scale = groupquant.npu_dynamic_quant(x)
    assert held() == 0
    assert torch.equal(y, want_y) and torch.equal(scale, want_scale)


def test_reuse_only_within_a_quarter_of_the_size():
    _, big = quant(m=4096)  # 16 MiB
    big_ptr = big.data_ptr()
    del big
    _, y = quant()  # 4 MiB: would waste 12 of 16 MiB
    assert y.data_ptr() != big_ptr and held() == 16 * MIB
    del y
    _, y = quant(m=3584)  # 14 MiB: fits the 16 MiB block
    assert y.data_ptr() == big_ptr


def test_the_limit_evicts_least_recently_freed_first():
    groupquant.set_output_cache_limit(8 * MIB)
    outputs = [quant(seed=s)[1] for s in range(3)]
    ptrs = [y.data_ptr() for y in outputs]
    for i in range(3):  # freed in order 0, 1, 2: 0 goes
        outputs[i] = None
    assert groupquant.output_cache_info()["held_blocks"] == 2 and held() == 8 * MIB
    a, b = quant()[1], quant()[1]
    assert {a.data_ptr(), b.data_ptr()} == set(ptrs[1:])
    del a, b
    groupquant.set_output_cache_limit(4 * MIB)  # lowering the limit evicts at once
    assert groupquant.output_cache_info()["held_blocks"] == 1 and held() == 4 * MIB
    _, big = quant(m=2048)  # 8 MiB, more than the limit: never held
    del big
    assert held() == 4 * MIB


def test_limit_zero_turns_the_cache_off():
    groupquant.set_output_cache_limit(0)
    _, y = quant()
    assert y.data_ptr() % (2 * MIB) == 0  # still aligned and advised
    del y
    assert groupquant.output_cache_info()["held_blocks"] == 0


def test_empty_cache_returns_the_memory_to_the_system():
    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB

    _, y = quant(m=16384)  # 64 MiB, written by the op
    del y
    assert held() == 64 * MIB
    before = rss_mib()
    groupquant.empty_cache()
    assert held() == 0 and groupquant.output_cache_info()["held_blocks"] == 0
    assert before - rss_mib() >= 60


def test_resize_of_an_output_keeps_its_values():
    inputs, y = quant()
    want = npu_group_quant_ref(**inputs)
    y.resize_(2 * LARGE[0], LARGE[1])  # a new block from the same allocator, values copied
    assert torch.equal(y[: LARGE[0]], want)
    y.resize_(4, 8)
    assert torch.equal(y, want[:1].reshape(-1)[:32].view(4, 8))


def test_outputs_freed_on_other_threads():
    groupquant.set_output_cache_limit(16 * MIB)
    outputs = [quant(seed=s)[1] for s in range(8)]
    threads = [threading.Thread(target=outputs.pop) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not outputs
    info = groupquant.output_cache_info()
    assert info["held_blocks"] == 4 and info["held_bytes"] == 16 * MIB


@pytest.mark.parametrize("bad, error", [(-1, ValueError), ("1", TypeError), (1.0, TypeError)])
def test_bad_limit(bad, error):
    with pytest.raises(error, match="set_output_cache_limit"):
        groupquant.set_output_cache_limit(bad)


def run_child(code, **env):
    """Runs code in a fresh interpreter with env (a value of None unsets that variable)."""
    environ = {**os.environ, **env}
    environ = {k: v for k, v in environ.items() if v is not None}
    out = subprocess.run(
        [sys.executable, "-c", "import groupquant, torch\n" + code],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip(), out.stderr


LIMIT = "print(groupquant.output_cache_info()['limit_bytes'])"


@pytest.mark.parametrize(
    "value, limit, warns",
    [(None, 256 * MIB, False), ("0", 0, False), ("64", 64 * MIB, False), ("lots", 256 * MIB, True)],
)
def test_cache_limit_from_the_environment(value, limit, warns):
    out, err = run_child(LIMIT, GROUPQUANT_OUTPUT_CACHE_MIB=value)
    assert int(out) == limit
    assert ("GROUPQUANT_OUTPUT_CACHE_MIB must be a number of MiB" in err) == warns


def thp_mode():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return f.read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        return None


# The output's mapping, as the kernel reports it: THPeligible says whether huge pages may
# back it (the advice was taken, or THP is "always").
THP_ELIGIBLE = """
import re
y = groupquant.npu_dynamic_quant(torch.ones(1024, 4096, dtype=torch.float16))[0]
p = y.data_ptr()
with open("/proc/self/smaps") as f:
    lines = f.read().splitlines()
for i, line in enumerate(lines):
    m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)
    if m and int(m[1], 16) <= p < int(m[2], 16):
        print(next(x for x in lines[i + 1 :] if x.startswith("THPeligible")).split()[1])
        break
"""


@pytest.mark.skipif(thp_mode() not in ("madvise", "always"), reason="THP off or missing here")
def test_outputs_are_advised_huge_pages():
    assert run_child(THP_ELIGIBLE)[0] == "1"
    # GROUPQUANT_HUGE_PAGES=0: no advice, so under "madvise" the mapping is not eligible.
    expect = "1" if thp_mode() == "always" else "0"
    assert run_child(THP_ELIGIBLE, GROUPQUANT_HUGE_PAGES="0")[0] == expect
