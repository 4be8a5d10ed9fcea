# python/ext.mk — the spprof extension, built in place (included by the top-level Makefile).
#
#   make ext PYTHON=/path/to/python3.13t     build python/spprof/_native<EXT_SUFFIX>
#   make python-test PYTHON=...              build it, then run tests/python with pytest
#   make ext-clang PYTHON=...                check the extension's sources compile with clang -Werror
#   make ext-arm64                           cross-build it for the aarch64 python3.13t
#                                            (ci/qemu-python.sh runs it under qemu-aarch64)
#   make python-test-arm64                   build that, then run tests/python under qemu-aarch64
#   make arm64-ldar-check                    the cross-built walker's pointer loads are `ldar`
#
# The extension is the shim (python/src/*.c) plus the core sources (core/*.c except the
# synthetic-image builder, its blobs, and the tests' shape-instance walker), compiled with -fPIC into build/python/<SOABI>/, one build
# directory per interpreter, so 3.13t and 3.13 objects never mix.
PYTHON ?= python3
EXT_CC ?= gcc
BUILD ?= build
EXT_SRC_DIR := python/src
EXT_SRC := $(sort $(wildcard $(EXT_SRC_DIR)/*.c))
EXT_CORE_SRC := $(filter-out core/synth.c core/synth_core.c core/synth_objects.c core/flavor_blobs.c core/walk_known.c,$(sort $(wildcard core/*.c)))
# keep_drops writes drop files with the harness's own encode/replay/render code
# (python/src/drop_file.c), so their expected output is what `spwalk replay` prints.
EXT_HARNESS_SRC := harness/names.c harness/render.c harness/replay.c harness/util.c
EXT_HDRS := $(wildcard core/*.h $(EXT_SRC_DIR)/*.h) harness/spwalk.h
EXT_CFLAGS := -std=c11 -Wall -Wextra -Werror -Wshadow -O2 -g -fPIC -fvisibility=hidden \
              -D_GNU_SOURCE -Icore -I$(EXT_SRC_DIR) -Iharness
EXT_LDFLAGS := -shared -pthread

.PHONY: ext python-test ext-build ext-clang ext-arm64 python-test-arm64 arm64-ldar-check

# Ask the interpreter for its include dir, SOABI and suffix, then build with those.
ext:
	@set -e; info=$$($(PYTHON) -c 'import sysconfig as s; print(s.get_config_var("SOABI"), s.get_paths()["include"], s.get_config_var("EXT_SUFFIX"))'); \
	set -- $$info; \
	$(MAKE) --no-print-directory -f python/ext.mk ext-build PYTHON="$(PYTHON)" BUILD="$(BUILD)" \
	    EXT_CC="$(EXT_CC)" EXT_TAG="$$1" EXT_INC="$$2" EXT_SUFFIX="$$3" V="$(V)"

# The build uses gcc; clang must accept the same sources with warnings as errors too.
ext-clang:
	@set -e; inc=$$($(PYTHON) -c 'import sysconfig as s; print(s.get_paths()["include"])'); \
	for f in $(EXT_SRC) $(EXT_CORE_SRC) $(EXT_HARNESS_SRC); do clang $(EXT_CFLAGS) -I$$inc -fsyntax-only $$f; done

python-test: ext
	@$(PYTHON) -c 'import pytest, fastjsonschema' 2>/dev/null || { echo "python-test: pytest and fastjsonschema are needed in $(PYTHON) (make pythons installs them in the cached interpreters; elsewhere: $(PYTHON) -m pip install pytest fastjsonschema)" >&2; exit 1; }
	PYTHONPATH=python $(PYTHON) -m pytest -q -p no:cacheprovider tests/python

# ARM64: the same build with the cross compiler, asking the aarch64 interpreter (under qemu)
# for its SOABI, so its objects go to build/python/cpython-313t-aarch64-linux-gnu/ and its
# module is _native.cpython-313t-aarch64-linux-gnu.so, next to the x86-64 ones.
QEMU_PYTHON := ci/qemu-python.sh
ext-arm64:
	@$(MAKE) --no-print-directory -f python/ext.mk ext PYTHON=$(QEMU_PYTHON) EXT_CC=aarch64-linux-gnu-gcc \
	    BUILD="$(BUILD)" V="$(V)"

python-test-arm64: ext-arm64
	@$(QEMU_PYTHON) -c 'import pytest, fastjsonschema' 2>/dev/null || { echo "python-test-arm64: pytest and fastjsonschema are needed in the aarch64 python (make pythons installs them)" >&2; exit 1; }
	PYTHONPATH=python $(QEMU_PYTHON) -m pytest -q -rs -p no:cacheprovider tests/python

arm64-ldar-check: ext-arm64
	@ci/arm64-ldar-check.sh "$(BUILD)/python/$$($(QEMU_PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("SOABI"))')"

ifdef EXT_TAG
EXT_OUT := $(BUILD)/python/$(EXT_TAG)
EXT_OBJS := $(patsubst %.c,$(EXT_OUT)/%.o,$(EXT_SRC) $(EXT_CORE_SRC) $(EXT_HARNESS_SRC))
EXT_SO := python/spprof/_native$(EXT_SUFFIX)
ifeq ($(V),1)
EXT_Q :=
else
EXT_Q := @
endif

ext-build: $(EXT_SO)

$(EXT_OUT)/%.o: %.c $(EXT_HDRS)
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || printf '  %-6s %-6s %s\n' CC $(EXT_TAG) $<
	$(EXT_Q)$(EXT_CC) $(EXT_CFLAGS) -I$(EXT_INC) -c $< -o $@

$(EXT_SO): $(EXT_OBJS)
	@[ "$(V)" = 1 ] || printf '  %-6s %-6s %s\n' LINK $(EXT_TAG) $@
	$(EXT_Q)$(EXT_CC) $(EXT_LDFLAGS) $^ -o $@
endif
