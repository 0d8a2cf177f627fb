"""setup.py's CUDA toolkit discovery and architecture choice, on this image (no GPU needed;
`make cuda` runs it with nvcc installed).

The toolkit root must be the one nvcc itself reports, whatever nvcc on PATH is: on this
image it is a wrapper script, /usr/local/bin/nvcc, from which torch's CUDA_HOME guess
derives /usr/local, a directory without cuda_runtime_api.h.
"""

import importlib.util
import os
import shutil
import stat

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def setup_py():
    spec = importlib.util.spec_from_file_location(
        "groupquant_setup", os.path.join(ROOT, "setup.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines; setup() only runs as __main__
    return module


def env_without_cuda_home(path=None):
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_HOME", "CUDA_PATH")}
    if path is not None:
        env["PATH"] = path
    return env


def script(path, text):
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def test_finds_the_real_root_with_cuda_home_unset(setup_py):
    env = env_without_cuda_home()
    nvcc = setup_py.find_nvcc(env)
    assert nvcc is not None, "no nvcc on PATH or in /usr/local/cuda/bin"
    toolkit = setup_py.Toolkit(nvcc)
    assert os.path.isfile(os.path.join(toolkit.include, "cuda_runtime_api.h")), toolkit.root
    assert os.path.isfile(os.path.join(toolkit.root, "bin", "nvcc"))
    assert os.path.isfile(toolkit.nvcc) and os.path.samefile(
        toolkit.nvcc, os.path.join(toolkit.root, "bin", "nvcc")
    )
    assert any(f.startswith("libcudart.so") for f in os.listdir(toolkit.lib)), toolkit.lib
    assert 80 in toolkit.archs and 90 in toolkit.archs, toolkit.archs
    # What torch would have guessed from the same PATH: nvcc's grandparent directory.
    guess = os.path.dirname(
        os.path.dirname(os.path.realpath(shutil.which("nvcc", path=env["PATH"])))
    )
    print(f"nvcc {nvcc}: root {toolkit.root} (a guess from its path: {guess})")


def test_a_wrapper_script_elsewhere_still_gives_the_real_root(setup_py, tmp_path):
    real = setup_py.Toolkit(setup_py.find_nvcc(env_without_cuda_home()))
    wrapper_dir = tmp_path / "bin"
    wrapper_dir.mkdir()
    script(wrapper_dir / "nvcc", f'exec "{real.nvcc}" "$@"\n')
    env = env_without_cuda_home(f"{wrapper_dir}{os.pathsep}{os.environ['PATH']}")
    nvcc = setup_py.find_nvcc(env)
    assert nvcc == str(wrapper_dir / "nvcc")
    toolkit = setup_py.Toolkit(nvcc)
    assert toolkit.root == real.root  # not tmp_path, which has no include/
    assert not os.path.exists(tmp_path / "include")


def test_a_root_without_headers_is_refused_by_name(setup_py, tmp_path):
    fake = script(
        tmp_path / "nvcc",
        f'case "$1" in --version) echo "Cuda compilation tools, release 13.0, V13.0.88";;\n'
        f'  -dryrun) echo "#$ TOP={tmp_path}" >&2;; esac\n',
    )
    with pytest.raises(setup_py.CudaUnavailable, match="cuda_runtime_api.h"):
        setup_py.Toolkit(str(fake))


def test_cuda_home_is_looked_at_first(setup_py, tmp_path):
    (tmp_path / "bin").mkdir()
    mine = script(tmp_path / "bin" / "nvcc", "exit 1\n")
    assert setup_py.find_nvcc({"CUDA_HOME": str(tmp_path), "PATH": "/nonexistent"}) == str(mine)
    assert setup_py.find_nvcc({"CUDA_PATH": str(tmp_path), "PATH": "/nonexistent"}) == str(mine)


class FakeToolkit:
    archs = [75, 80, 86, 87, 89, 90, 100, 103, 110, 120, 121]  # nvcc 13's list


@pytest.mark.parametrize(
    "env,torch_archs,expected",
    [
        ({"GROUPQUANT_CUDA_ARCHITECTURES": "90"}, [], "90"),
        ({"TORCH_CUDA_ARCH_LIST": "7.5;8.0;9.0+PTX"}, [], "75-real;80-real;90"),
        ({"TORCH_CUDA_ARCH_LIST": "8.0 8.6 9.0a"}, [], "80-real;86-real;90a"),
        # sm_70 and sm_60 are gone from CUDA 13: dropped, not an nvcc error.
        ({"TORCH_CUDA_ARCH_LIST": "6.0;7.0;8.0"}, [], "80"),
        ({}, ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], None),
        ({}, [], "80-real;90"),  # a torch without a list: sm_80 and sm_90
    ],
)
def test_architectures(setup_py, env, torch_archs, expected):
    archs, source = setup_py.cuda_architectures(FakeToolkit(), env=env, torch_archs=torch_archs)
    if expected is None:
        expected = "75-real;80-real;86-real;90-real;100-real;120"  # PTX for the newest only
    assert archs == expected, source
