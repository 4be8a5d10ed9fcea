"""Build spprof._native: the shim (src/*.c) and the core (../core/*.c) in one extension.

The core lives beside this folder in the repository (../core), so building from a source
tree works with `pip install ./python`. The same flags as python/ext.mk are used."""
import glob
import os

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
CORE = os.path.normpath(os.path.join(HERE, "..", "core"))
if not os.path.isdir(CORE):
    raise SystemExit(f"spprof: the core sources were not found at {CORE}; "
                     "build from the spprof repository (pip install ./python)")

core_src = sorted(p for p in glob.glob(os.path.join(CORE, "*.c"))
                  if os.path.basename(p) not in ("synth.c", "flavor_blobs.c", "walk_known.c"))
shim_src = sorted(glob.glob(os.path.join(HERE, "src", "*.c")))
# setuptools wants paths relative to setup.py for sources inside the tree
sources = [os.path.relpath(p, HERE) for p in shim_src + core_src]

setup(
    ext_modules=[
        Extension(
            "spprof._native",
            sources=sources,
            include_dirs=[CORE, os.path.join(HERE, "src")],
            define_macros=[("_GNU_SOURCE", None)],
            extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-O2", "-fvisibility=hidden"],
            extra_link_args=["-pthread"],
        )
    ],
)
