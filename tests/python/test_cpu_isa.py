"""groupquant.cpu_isa / set_cpu_isa / cpu_isa_supported: which CPU kernels run, forcing
each one this machine supports in one process, and the same bits from every one."""

import os
import subprocess
import sys

import groupquant
import pytest
import torch
from conftest import FLOAT_DTYPES, OUTPUT_KINDS, make_inputs

ISAS = ["scalar", "avx2", "avx512"]
SUPPORTED = [isa for isa in ISAS if groupquant.cpu_isa_supported(isa)]


@pytest.fixture
def restore_isa():
    saved = groupquant.cpu_isa()
    yield
    groupquant.set_cpu_isa(saved)


def test_cpu_isa_names_a_supported_isa():
    assert groupquant.cpu_isa() in SUPPORTED
    assert "scalar" in SUPPORTED  # the portable kernels always run
    assert not groupquant.cpu_isa_supported("neon-on-x86") and not groupquant.cpu_isa_supported("")


def test_auto_picks_the_best_supported(restore_isa):
    groupquant.set_cpu_isa("auto")
    assert groupquant.cpu_isa() == SUPPORTED[-1]


def calls():
    """Every dtype pair and output kind, contiguous and column-major x, with and without
    an offset (the kernels skip the add for a zero one)."""
    for i, xd in enumerate(FLOAT_DTYPES):
        for j, sd in enumerate(FLOAT_DTYPES):
            for kind in OUTPUT_KINDS:
                for offset in ("none", "0d"):
                    inputs = make_inputs(
                        70, 136, g=5, x_dtype=xd, scale_dtype=sd, offset=offset, seed=9 * i + 3 * j
                    )
                    yield inputs, kind
                    yield dict(inputs, x=inputs["x"].t().contiguous().t()), kind


def run_all():
    return [
        groupquant.npu_group_quant(
            c["x"], c["scale"], c["group_index"], offset=c["offset"], dst_dtype=kind
        )
        for c, kind in calls()
    ]


def test_every_supported_isa_gives_the_same_bits(restore_isa):
    results = {}
    for isa in SUPPORTED:
        groupquant.set_cpu_isa(isa)
        assert groupquant.cpu_isa() == isa
        results[isa] = run_all()
    first = results[SUPPORTED[0]]
    for isa in SUPPORTED[1:]:
        for a, b in zip(first, results[isa]):
            assert torch.equal(a, b), isa


def test_bad_names_raise_and_change_nothing(restore_isa):
    before = groupquant.cpu_isa()
    with pytest.raises(
        RuntimeError,
        match=r"^CPU ISA name must be one of auto, scalar, avx2, avx512, neon: got 'sse9'$",
    ):
        groupquant.set_cpu_isa("sse9")
    assert groupquant.cpu_isa() == before
    with pytest.raises(TypeError):
        groupquant.set_cpu_isa(2)
    for isa in ISAS:
        if isa not in SUPPORTED:
            with pytest.raises(RuntimeError, match=f"CPU ISA {isa} is not supported"):
                groupquant.set_cpu_isa(isa)
            assert groupquant.cpu_isa() == before


def test_environment_variable_is_what_cpu_isa_reports():
    for isa in SUPPORTED:
        out = subprocess.run(
            [sys.executable, "-c", "import groupquant; print(groupquant.cpu_isa())"],
            env=dict(os.environ, GROUPQUANT_CPU_ISA=isa),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert out == isa
    bad = subprocess.run(
        [sys.executable, "-c", "import groupquant; groupquant.cpu_isa()"],
        env=dict(os.environ, GROUPQUANT_CPU_ISA="mmx"),
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert (
        "RuntimeError: GROUPQUANT_CPU_ISA must be one of auto, scalar, avx2, avx512, neon: "
        "got 'mmx'" in bad.stderr
    )
