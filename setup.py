"""What pyproject.toml cannot say: one import package, and the C kernels only where their folder is.

The repository keeps the design's top-level folders; installed, they are ``rnn_tui.engine``,
``rnn_tui.tui`` and ``rnn_tui.corpora``, so nothing generic lands in site-packages. The C module
(``engine/kernels/native``) is optional twice over: without a C compiler with OpenMP the install
goes on without it, and without its folder it is not asked for.
"""
from pathlib import Path

from setuptools import Extension, find_packages, setup

FOLDERS = ("engine", "tui", "corpora")
NATIVE = Path("engine/kernels/native")

native_kernels = Extension(
    "rnn_tui.engine.kernels.native._native_rnn",
    sources=[str(NATIVE / "native_rnn.c")],
    depends=[str(NATIVE / "stepper_kernels.h"), str(NATIVE / "recurrence_kernels.h")],
    # OpenMP: torch's own runtime (libgomp.so.1) serves the module, torch being imported first
    extra_compile_args=["-fopenmp"],
    extra_link_args=["-fopenmp"],
    optional=True,
)

setup(
    packages=[f"rnn_tui.{name}" for name in find_packages(include=[f"{folder}*" for folder in FOLDERS])],
    package_dir={f"rnn_tui.{folder}": folder for folder in FOLDERS},
    package_data={"rnn_tui.tui": ["*.tcss"]},
    ext_modules=[native_kernels] if (NATIVE / "native_rnn.c").is_file() else [],
)
