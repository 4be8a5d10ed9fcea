"""Build spprof: the extension spprof._native and the spwalk tool (spprof/_bin/spwalk).

`pip install .` from the repository root, a git URL or the sdist runs this (pyproject.toml
holds the metadata). It compiles what the Makefile does: the extension is python/src/*.c
with the core (core/*.c less the files python/ext.mk's EXT_CORE_SRC filters out, read from
there so that the two builds cannot drift apart), and spwalk is harness/*.c with every
core/*.c, as the Makefile's spwalk rule links it. Both use the compiler the interpreter was
built with (or $CC). A compile error fails the install: there is no pure-Python fallback.

setuptools builds in build/setuptools/, beside the Makefile's variants in build/, and keeps
its egg-info there too, so neither the Makefile's layout nor the source tree gets strays."""
import glob
import os
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# setuptools provides distutils (the compiler classes build_ext itself uses).
from distutils.ccompiler import new_compiler  # noqa: E402
from distutils.sysconfig import customize_compiler  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_BASE = os.path.join("build", "setuptools")
FLAGS = ["-std=c11", "-Wall", "-Wextra", "-O2"]
MACROS = [("_GNU_SOURCE", None)]


def rel_glob(pattern):
    """Sorted matches, relative to this file (setuptools wants sources inside the tree)."""
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, pattern)))


def ext_core_excluded():
    """The core files python/ext.mk leaves out of the extension (its EXT_CORE_SRC line)."""
    with open(os.path.join(HERE, "python", "ext.mk"), encoding="utf-8") as f:
        m = re.search(r"^EXT_CORE_SRC\s*:=\s*\$\(filter-out\s+([^,]+),\s*"
                      r"\$\(sort \$\(wildcard core/\*\.c\)\)\)\s*$", f.read(), re.M)
    if not m:
        raise SystemExit("spprof: python/ext.mk's EXT_CORE_SRC is not the "
                         "$(filter-out FILES,$(sort $(wildcard core/*.c))) setup.py reads")
    return m.group(1).split()


CORE_SRC = rel_glob("core/*.c")
EXCLUDED = ext_core_excluded()
missing = [p for p in EXCLUDED if p not in CORE_SRC]
if not CORE_SRC or missing:
    raise SystemExit(f"spprof: the core sources are incomplete under {HERE}/core "
                     f"(missing {missing or 'core/*.c'}); build from a clone or the sdist")
# keep_drops writes drop files with the harness's encode/replay/render code (python/ext.mk)
EXT_HARNESS_SRC = ["harness/names.c", "harness/render.c", "harness/replay.c",
                   "harness/util.c"]
EXT_SRC = (rel_glob("python/src/*.c") + [p for p in CORE_SRC if p not in EXCLUDED]
           + EXT_HARNESS_SRC)
SPWALK_SRC = rel_glob("harness/*.c") + CORE_SRC
HEADERS = rel_glob("core/*.h") + rel_glob("python/src/*.h") + rel_glob("harness/*.h")


class BuildExtAndSpwalk(build_ext):
    """build_ext, and spwalk linked by the same compiler into the package's _bin/ (and
    into the source tree too for an in-place or editable build)."""

    def run(self):
        # spwalk compiles in a second thread while the extension does: each has one slow
        # file (handler.c, walk_known.c), so two cores nearly halve a clean install.
        compiler_type = self.compiler  # the option, before run() replaces it by the object
        failed = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            spwalk = pool.submit(self.build_spwalk, compiler_type, failed)
            try:
                super().run()
            except BaseException:
                failed.set()  # the install has failed: spwalk's compiles stop at once
                raise
            exe = spwalk.result()
        if self.inplace:
            src_pkg = self.get_finalized_command("build_py").get_package_dir("spprof")
            dest = os.path.join(src_pkg, "_bin", "spwalk")
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(exe, dest)

    def build_spwalk(self, compiler_type, failed):
        cc = new_compiler(compiler=compiler_type, verbose=self.verbose, force=self.force)
        customize_compiler(cc)  # CC, CFLAGS as for the extension
        exe = self.spwalk_build_path()
        objects = []
        for src in SPWALK_SRC:  # one by one, to see `failed` between them
            if failed.is_set():
                return None
            objects += cc.compile([src], output_dir=os.path.join(self.build_temp, "spwalk"),
                                  macros=MACROS, include_dirs=["core", "harness"],
                                  extra_postargs=FLAGS, depends=HEADERS)
        cc.link_executable(objects, os.path.basename(exe), output_dir=os.path.dirname(exe),
                           extra_postargs=["-pthread"])
        return exe

    def spwalk_build_path(self):
        return os.path.join(self.build_lib, "spprof", "_bin", "spwalk")

    def get_outputs(self):
        return super().get_outputs() + [self.spwalk_build_path()]


# egg_info wants its directory to exist already.
os.makedirs(os.path.join(HERE, BUILD_BASE), exist_ok=True)
setup(
    ext_modules=[
        Extension(
            "spprof._native",
            sources=EXT_SRC,
            depends=HEADERS,
            include_dirs=["core", "python/src", "harness"],
            define_macros=MACROS,
            extra_compile_args=FLAGS + ["-fvisibility=hidden"],
            extra_link_args=["-pthread"],
        )
    ],
    cmdclass={"build_ext": BuildExtAndSpwalk},
    options={"build": {"build_base": BUILD_BASE}, "egg_info": {"egg_base": BUILD_BASE}},
)
