# spprof — top-level build. `make help` lists the targets.
#
# Everything is built out of tree under build/. The same sources are compiled in several
# variants, each in build/<variant>/:
#   gcc     gcc 12, -O2            the default build: library, tools, unit tests
#   clang   clang 14, -O2          proves the code is warning-clean under clang too
#   asan    clang 14, ASan+UBSan   unit tests under the sanitizers
#   arm64   aarch64-linux-gnu-gcc  core and unit tests, run under qemu-aarch64
#
# `make check` and `make demo` bootstrap a fresh Debian machine first (ci/bootstrap.sh).

SHELL := /bin/bash
BUILD ?= build
SPPROF_CACHE ?= $(HOME)/.cache/spprof
export SPPROF_CACHE
LOGS := $(BUILD)/logs

WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wcast-align -Wvla -Wformat=2
CPPFLAGS_ALL := -Icore -D_GNU_SOURCE

CORE_SRC := $(sort $(wildcard core/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_NAMES := $(patsubst tests/unit/%.c,%,$(TEST_SRC))
TEST_SUPPORT := $(sort $(wildcard tests/unit/support/*.c))
TOOL_SRC := $(sort $(wildcard harness/*.c))

# Per-variant compiler, flags and how to run a test binary.
gcc_CC := gcc
gcc_CFLAGS := -O2 -g
gcc_LDLIBS := -lcmocka
gcc_RUN :=
clang_CC := clang-14
clang_CFLAGS := -O2 -g
clang_LDLIBS := -lcmocka
clang_RUN :=
asan_CC := clang-14
asan_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
asan_LDLIBS := -lcmocka
asan_RUN := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
arm64_CC := aarch64-linux-gnu-gcc
arm64_CFLAGS := -O2 -g
arm64_LDLIBS := -L/usr/lib/aarch64-linux-gnu -lcmocka
# The guest loader and libc from Debian's multiarch libc6:arm64 (ci/qemu-python.sh says why)
arm64_RUN := QEMU_LD_PREFIX=/ qemu-aarch64
VARIANTS := gcc clang asan arm64

# Quiet by default: one short line per step. `make V=1` shows the full commands.
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-6s %-6s %s\n' $(1) $(2) $(3)
endif

.SECONDARY:
.PHONY: all help check demo bootstrap pythons which-python unit unit-% clean

all: $(BUILD)/gcc/libspwcore.a $(if $(TOOL_SRC),$(BUILD)/bin/spwalk) \
     $(patsubst %,$(BUILD)/gcc/tests/%,$(TEST_NAMES))

help:
	@echo "make             build the core library, tools and unit tests into $(BUILD)/"
	@echo "make check       set up this machine if needed, then run every test suite"
	@echo "make demo        set up, then replay the bundled snapshot and print its stacks"
	@echo "make which-python  print the interpreters the tests use"
	@echo "make bench       run the benchmarks (figures, side by side in one run)"
	@echo "make unit-VARIANT  unit tests of one variant: $(VARIANTS)"
	@echo "make clean       remove $(BUILD)/"

# --- variants ---------------------------------------------------------------------------
# $(1) = variant name
define variant
$(BUILD)/$(1)/core/%.o: core/%.c $(wildcard core/*.h)
	@mkdir -p $$(@D)
	$$(call say,CC,$(1),$$<)
	$$(Q)$$($(1)_CC) $$(CPPFLAGS_ALL) $$(WARN) $$($(1)_CFLAGS) -c $$< -o $$@

$(BUILD)/$(1)/tests/support/%.o: tests/unit/support/%.c $(wildcard core/*.h tests/unit/support/*.h)
	@mkdir -p $$(@D)
	$$(call say,CC,$(1),$$<)
	$$(Q)$$($(1)_CC) $$(CPPFLAGS_ALL) -Itests/unit $$(WARN) $$($(1)_CFLAGS) -c $$< -o $$@

$(BUILD)/$(1)/libspwcore.a: $(patsubst core/%.c,$(BUILD)/$(1)/core/%.o,$(CORE_SRC))
	@rm -f $$@
	$$(call say,AR,$(1),$$@)
	$$(Q)ar rcs $$@ $$^

$(BUILD)/$(1)/tests/%: tests/unit/%.c $(BUILD)/$(1)/libspwcore.a $(patsubst tests/unit/support/%.c,$(BUILD)/$(1)/tests/support/%.o,$(TEST_SUPPORT)) $(wildcard core/*.h tests/unit/support/*.h)
	@mkdir -p $$(@D)
	$$(call say,LINK,$(1),$$@)
	$$(Q)$$($(1)_CC) $$(CPPFLAGS_ALL) -Itests/unit $$(WARN) $$($(1)_CFLAGS) $$< \
	    $(patsubst tests/unit/support/%.c,$(BUILD)/$(1)/tests/support/%.o,$(TEST_SUPPORT)) \
	    $(BUILD)/$(1)/libspwcore.a $$($(1)_LDLIBS) -o $$@

$(BUILD)/$(1)/bin/spwalk: $(TOOL_SRC) $(BUILD)/$(1)/libspwcore.a $(wildcard core/*.h harness/*.h)
	@mkdir -p $$(@D)
	$$(call say,LINK,$(1),$$@)
	$$(Q)$$($(1)_CC) $$(CPPFLAGS_ALL) -Iharness $$(WARN) $$($(1)_CFLAGS) $(TOOL_SRC) \
	    $(BUILD)/$(1)/libspwcore.a -o $$@

unit-$(1): $(patsubst %,$(BUILD)/$(1)/tests/%,$(TEST_NAMES))
	@set -e; for t in $$^; do \
	    if $$($(1)_RUN) $$$$t > $$$$t.log 2>&1; then echo "  pass  $(1)  $$$$(basename $$$$t)"; \
	    else cat $$$$t.log; echo "  FAIL  $(1)  $$$$(basename $$$$t) (log: $$$$t.log)"; exit 1; fi; \
	done
endef
$(foreach v,$(VARIANTS),$(eval $(call variant,$(v))))

unit: unit-gcc

# --- tools -----------------------------------------------------------------------------
# spwalk is every harness/*.c linked with the core; build/bin/ holds the default build.
$(BUILD)/bin/spwalk: $(BUILD)/gcc/bin/spwalk
	@mkdir -p $(@D)
	$(Q)cp $< $@

# --- benchmarks (print measured figures; never timed tests) -------------------------------
# Each bench/*.c links the core and the harness (without spwalk's main); bench/*.sh drive
# the ones that need a live target process.
BENCH_SRC := $(sort $(wildcard bench/*.c))
HARNESS_LIB_SRC := $(filter-out harness/spwalk.c,$(TOOL_SRC))
$(BUILD)/gcc/bench/%: bench/%.c $(HARNESS_LIB_SRC) $(BUILD)/gcc/libspwcore.a $(wildcard core/*.h harness/*.h)
	@mkdir -p $(@D)
	$(call say,LINK,gcc,$@)
	$(Q)gcc $(CPPFLAGS_ALL) -Iharness $(WARN) -O2 -g $< $(HARNESS_LIB_SRC) $(BUILD)/gcc/libspwcore.a -o $@

.PHONY: bench
bench: $(patsubst bench/%.c,$(BUILD)/gcc/bench/%,$(BENCH_SRC))
	@echo "== walk_bench"; $(BUILD)/gcc/bench/walk_bench
	@echo "== replay_bench"; bench/replay_bench.sh
	@echo "== live_bench (every interpreter make which-python lists)"; python3 bench/live_bench.py --all
	@echo "== engines_bench (every interpreter make which-python lists)"; \
	while read -r tag exe; do \
	    $(MAKE) -s --no-print-directory ext PYTHON="$$exe" >/dev/null && echo "-- $$tag" && \
	    PYTHONPATH=python "$$exe" bench/engines_bench.py --quick || exit 1; \
	done < <(ci/which-python.sh)
	@echo "== edges_bench (every interpreter make which-python lists)"; \
	while read -r tag exe; do \
	    $(MAKE) -s --no-print-directory ext PYTHON="$$exe" >/dev/null && echo "-- $$tag" && \
	    PYTHONPATH=python "$$exe" bench/edges_bench.py || exit 1; \
	done < <(ci/which-python.sh)

# --- fuzzing (fuzz/fuzz.mk: fuzz, fuzz-regress, fuzz-selftest, coverage) -----------------
-include fuzz/fuzz.mk

# --- the Python package (python/ext.mk: ext, python-test) ----------------------------------
-include python/ext.mk

# --- set-up ----------------------------------------------------------------------------
bootstrap:
	@ci/bootstrap.sh packages

pythons: bootstrap
	@ci/bootstrap.sh pythons

which-python:
	@ci/which-python.sh

# --- the README's two commands ----------------------------------------------------------
check: pythons
	@ci/check.sh

demo: pythons
	@ci/demo.sh

clean:
	rm -rf $(BUILD) python/spprof/_native*.so
