"""Builds tconv's compiled core, one optional extension (``tconv.core._native._tconv``).

Everything else about the package is in ``pyproject.toml``.  The extension is optional: without a
C compiler ``pip install`` still succeeds and tconv runs its NumPy/SciPy path.  Each kernel source
is compiled once per instruction set with that set's flags (``ISA_GROUPS``); the runtime picks one
table from cpuid.  ``TCONV_DEBUG_BUILD=1`` builds with ``-O1 -g -DTC_DEBUG`` (bounds checks in the C
code), and with ``TCONV_SANITIZE=1`` also ``-fsanitize=address,undefined``.
"""

from __future__ import annotations

import os
import platform

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SRC = "src/tconv/core/_native/src"
COMMON = ["module.c", "cpu.c", "pool.c", "scratch.c", "gemm.c", "pack.c", "conv.c", "convplan.c", "gemm_generic.c"]
X86 = platform.machine().lower() in ("x86_64", "amd64")
ISA_GROUPS = {
    "gemm_avx512.c": ["-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl", "-mfma"],
    "gemm_avx2.c": ["-mavx2", "-mfma"],
} if X86 else {}
DEPENDS = [f"{SRC}/{f}" for f in ("tc_common.h", "buffer.h", "gemm.h", "pool.h", "cpu.h", "conv.h", "gemm_kernel.inc",
                                    "ukernel.inc", "fmachain.inc", "pack_ind.inc", "binding.h", "scratch.h")]

# the direct convolutions (issue 19): drivers and binding in COMMON, the loops per ISA, plain C
# vectorised by the compiler: fused multiply-adds, `omp simd` pragmas only (no OpenMP runtime)
DIRECT = ["-ffp-contract=fast", "-fopenmp-simd"]
COMMON += ["direct.c", "direct_rows.c", "direct_wgrad.c", "direct_module.c", "compact.c", "brgemm.c"]
if X86:
    ISA_GROUPS["direct_avx512.c"] = ISA_GROUPS["gemm_avx512.c"] + DIRECT + ["-mprefer-vector-width=512"]
    ISA_GROUPS["direct_avx2.c"] = ISA_GROUPS["gemm_avx2.c"] + DIRECT
ISA_GROUPS["direct_generic.c"] = DIRECT
DEPENDS += [f"{SRC}/{f}" for f in ("direct.h", "direct_rows.h", "direct_wgrad.h", "brgemm.h", "direct_py.h", "direct_kernel.inc", "direct_axpy.inc", "direct_rows.inc")]


def _flags() -> tuple[list[str], list[str]]:
    """(compile flags, link flags) from the build environment."""
    cflags = ["-std=c11", "-fno-strict-aliasing", "-fvisibility=hidden", "-Wall", "-Wextra"]
    ldflags = ["-pthread"]
    if os.environ.get("TCONV_DEBUG_BUILD") == "1":
        cflags += ["-O1", "-g", "-DTC_DEBUG", "-fno-omit-frame-pointer"]
        if os.environ.get("TCONV_SANITIZE") == "1":
            cflags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
            ldflags += ["-fsanitize=address,undefined"]
    else:
        cflags += ["-O3", "-DNDEBUG"]
    return cflags + ["-pthread"], ldflags


class BuildExt(build_ext):
    """Compiles each ISA's kernel file with its own flags, then links them into the extension."""

    def build_extension(self, ext):
        cflags, ldflags = _flags()
        objects = []
        for source, isa_flags in ISA_GROUPS.items():
            objects += self.compiler.compile([f"{SRC}/{source}"], output_dir=self.build_temp,
                                             include_dirs=[SRC], extra_postargs=cflags + isa_flags,
                                             depends=DEPENDS)
        ext.extra_objects = objects
        ext.extra_compile_args = cflags
        ext.extra_link_args = ldflags
        super().build_extension(ext)


native = Extension(
    "tconv.core._native._tconv",
    sources=[f"{SRC}/{f}" for f in COMMON],
    include_dirs=[SRC],
    depends=DEPENDS + [f"{SRC}/{f}" for f in ISA_GROUPS],
    optional=True,
)

setup(ext_modules=[native], cmdclass={"build_ext": BuildExt})
