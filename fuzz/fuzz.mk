# fuzz/fuzz.mk — fuzz targets, engines and runs (docs/fuzzing.md).
#
# Included by the top-level Makefile, and usable on its own from the repository root:
#     make -f fuzz/fuzz.mk fuzz-regress
# Everything it builds or writes goes under $(BUILD)/fuzz/.
#
#   fuzz           build every target for libFuzzer and AFL++, run each target with each
#                  engine for FUZZ_SECONDS (default 60) from corpus/<target>/, fail on any
#                  finding; findings and their reproduce commands in $(BUILD)/fuzz/findings/;
#                  AFL++ on walk_snapshot loads $(BUILD)/fuzz/afl/mutator_walk_snapshot.so
#   fuzz-regress   replay corpus/<target>/ and fuzz/regressions/<target>/ through each
#                  target's plain replay binary (ASan+UBSan); part of `make check`;
#                  FZ_REGRESS_TARGETS="walk threads" replays only those targets
#   fuzz-regress-arm64  the same through the aarch64 build (ASan+UBSan) under qemu-aarch64;
#                  part of `make check`
#   fuzz-mutants   the mutation campaign (fuzz/mutants.py over fuzz/mutants.txt): every
#                  mutant of a check in core/ must be killed; MUTANTS=a,b runs those,
#                  MUTANT_SAMPLE=N a rotating subset, MUTANT_FUZZ_SECONDS the fuzz stage
#   fuzz-selftest  planted-bug variants of the walker: libFuzzer must find each within
#                  FUZZ_SELFTEST_SECONDS (60); AFL++'s time is reported
#   fuzz-build     just build every binary
#   fuzz-seeds     regenerate the generated seed files (layout blobs, synthetic snapshots,
#                  thread-list and thread-name recipes, synthetic cores)
#   fuzz-merge     minimize corpus/<target>/ with its scratch corpus (libFuzzer -merge=1);
#                  MERGE=a,b those targets only
#   coverage       line/branch coverage of core/ from unit tests + corpora -> docs/coverage.md
#
# One fuzzer process runs at a time: the machines this runs on are small and shared.

BUILD ?= build
FUZZ_SECONDS ?= 60
FUZZ_SELFTEST_SECONDS ?= 60
FZ := $(BUILD)/fuzz

FZ_TARGETS := $(sort $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c)))
FZ_REGRESS_TARGETS ?= $(FZ_TARGETS)
FZ_CORE_SRC := $(sort $(wildcard core/*.c))
FZ_SUPPORT_SRC := fuzz/checked_reader.c fuzz/oracle.c
FZ_HDRS := $(wildcard core/*.h fuzz/*.h)

FZ_CC ?= clang-14
FZ_AFL_CC ?= afl-clang-fast
FZ_AFL_DRIVER ?= /usr/lib/afl/libAFLDriver.a
FZ_WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wcast-align -Wvla -Wformat=2
FZ_CPPFLAGS := -Icore -Ifuzz -D_GNU_SOURCE
FZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FZ_OPT := -O1 -g -fno-omit-frame-pointer

ifeq ($(V),1)
FZ_Q :=
fz_say = @true
else
FZ_Q := @
fz_say = @printf '  %-6s %-12s %s\n' $(1) $(2) $(3)
endif

# --- variants ---------------------------------------------------------------------------
# A variant is one way of compiling everything: compiler, flags, what main() comes from.
#   replay   plain main() that replays files (fuzz/replay_main.c)
#   lf       libFuzzer
#   afl      AFL++ persistent mode (afl-clang-fast + libAFLDriver.a)
#   *-cycle, *-align, *-code: the same with one planted bug in the core (fuzz-selftest)
FZ_PLANTS := cycle align code
FZ_PLANT_DEF_cycle := -DSPW_PLANT_NO_CYCLE_CHECK
FZ_PLANT_DEF_align := -DSPW_PLANT_NO_ALIGN_CHECK
FZ_PLANT_DEF_code := -DSPW_PLANT_NO_CODE_CHECK

fz_replay_CC := $(FZ_CC)
fz_replay_CFLAGS := $(FZ_OPT) $(FZ_SAN)
fz_replay_LDFLAGS := $(FZ_SAN)
fz_replay_MAIN := fuzz/replay_main.c
fz_replay_ENV :=

# replay-arm64: the replay binaries cross-built for aarch64, run under qemu-aarch64 by
# fuzz-regress-arm64 (ASan+UBSan linked statically: the guest's libraries are Debian's
# multiarch ones, which have no arm64 sanitizer runtimes installed).
fz_replay_arm64_CC := aarch64-linux-gnu-gcc
fz_replay_arm64_CFLAGS := $(FZ_OPT) $(FZ_SAN)
fz_replay_arm64_LDFLAGS := $(FZ_SAN) -static-libasan -static-libubsan
fz_replay_arm64_MAIN := fuzz/replay_main.c
fz_replay_arm64_ENV :=

fz_lf_CC := $(FZ_CC)
fz_lf_CFLAGS := $(FZ_OPT) $(FZ_SAN) -fsanitize=fuzzer-no-link \
                -fsanitize-coverage-ignorelist=fuzz/nocov.txt -DFZ_LIBFUZZER
fz_lf_LDFLAGS := $(FZ_SAN) -fsanitize=fuzzer
fz_lf_MAIN :=
fz_lf_ENV :=

fz_afl_CC := $(FZ_AFL_CC)
fz_afl_CFLAGS := $(FZ_OPT) $(FZ_SAN)
fz_afl_LDFLAGS := $(FZ_SAN) $(FZ_AFL_DRIVER)
fz_afl_MAIN :=
fz_afl_ENV := AFL_QUIET=1 AFL_LLVM_DENYLIST=fuzz/nocov.txt

# $(1) = variant, $(2) = base engine (replay/lf/afl), $(3) = extra defines
define fz_variant
$(FZ)/obj/$(1)/%.o: %.c $(FZ_HDRS) fuzz/nocov.txt
	@mkdir -p $$(@D)
	$$(call fz_say,CC,$(1),$$<)
	$(FZ_Q)$(fz_$(2)_ENV) $(fz_$(2)_CC) $(FZ_CPPFLAGS) $(FZ_WARN) $(fz_$(2)_CFLAGS) $(3) -c $$< -o $$@

# fuzz_walk's and fuzz_names' oracles are files of their own
$(FZ)/$(1)/fuzz_walk: $(FZ)/obj/$(1)/fuzz/walk_oracle.o
$(FZ)/$(1)/fuzz_names: $(FZ)/obj/$(1)/fuzz/names_oracle.o
$(FZ)/$(1)/fuzz_%: $(FZ)/obj/$(1)/fuzz/fuzz_%.o \
        $(patsubst %.c,$(FZ)/obj/$(1)/%.o,$(FZ_SUPPORT_SRC) $(FZ_CORE_SRC) $(fz_$(2)_MAIN))
	@mkdir -p $$(@D)
	$$(call fz_say,LINK,$(1),$$@)
	$(FZ_Q)$(fz_$(2)_ENV) $(fz_$(2)_CC) $$^ $(fz_$(2)_LDFLAGS) -o $$@
endef
$(foreach e,replay lf afl,$(eval $(call fz_variant,$(e),$(e),)))
$(eval $(call fz_variant,replay-arm64,replay_arm64,))
$(foreach e,lf afl,$(foreach p,$(FZ_PLANTS),$(eval $(call fz_variant,$(e)-$(p),$(e),$(FZ_PLANT_DEF_$(p))))))

FZ_REPLAY_BINS := $(patsubst %,$(FZ)/replay/fuzz_%,$(FZ_TARGETS))
FZ_LF_BINS := $(patsubst %,$(FZ)/lf/fuzz_%,$(FZ_TARGETS))
FZ_AFL_BINS := $(patsubst %,$(FZ)/afl/fuzz_%,$(FZ_TARGETS))
FZ_PLANT_BINS := $(foreach e,lf afl,$(foreach p,$(FZ_PLANTS),$(FZ)/$(e)-$(p)/fuzz_walk))

# --- walk_snapshot's structure-aware mutator (fuzz/snapshot_mutator.c), both engines ------
# libFuzzer: linked into the target, which calls it from LLVMFuzzerCustomMutator.
$(FZ)/lf/fuzz_walk_snapshot: $(FZ)/obj/lf/fuzz/snapshot_mutator.o
# AFL++: libAFLDriver.a has no such hook, so afl-fuzz loads the same code as a custom
# mutator library (AFL_CUSTOM_MUTATOR_LIBRARY, set by `fuzz` below for this target only).
# It runs inside afl-fuzz, so it is built with plain clang: no sanitizers (afl-fuzz has no
# sanitizer runtime; the libFuzzer build runs the same code under ASan+UBSan) and no
# coverage instrumentation (it is not under test). -z defs makes a missing symbol a link
# error here rather than a dlopen failure at the start of a fuzzing run.
FZ_AFL_MUTATOR := $(FZ)/afl/mutator_walk_snapshot.so
FZ_AFL_MUTATOR_SRC := fuzz/afl_snapshot_mutator.c fuzz/snapshot_mutator.c core/snapshot.c core/crc32.c
$(FZ_AFL_MUTATOR): $(FZ_AFL_MUTATOR_SRC) $(FZ_HDRS)
	@mkdir -p $(@D)
	$(call fz_say,LINK,afl,$@)
	$(FZ_Q)$(FZ_CC) $(FZ_CPPFLAGS) $(FZ_WARN) -O2 -g -fPIC -shared -Wl,-z,defs \
	    $(FZ_AFL_MUTATOR_SRC) -o $@

# Keep intermediate objects (standalone use; the top-level Makefile says the same).
.SECONDARY:
.PHONY: fuzz fuzz-build fuzz-regress fuzz-regress-arm64 fuzz-selftest fuzz-seeds fuzz-merge fuzz-mutants coverage

fuzz-build: $(FZ_REPLAY_BINS) $(FZ_LF_BINS) $(FZ_AFL_BINS) $(FZ_AFL_MUTATOR)

# --- fuzz-regress: the corpora as an ordinary test ---------------------------------------
# $(1) = stage name, $(2) = replay variant, $(3) = how to run a binary, $(4) = detect_leaks
define fz_regress
	@set -e; for t in $(FZ_REGRESS_TARGETS); do \
	    dirs=""; for d in corpus/$$t fuzz/regressions/$$t; do [ -d $$d ] && dirs="$$dirs $$d"; done; \
	    case $$t in walk_snapshot|snapshot_decode) [ -d corpus/snapshots ] && dirs="$$dirs corpus/snapshots";; esac; \
	    if [ -z "$$dirs" ]; then echo "  FAIL  $(1)  $$t: no corpus/$$t"; exit 1; fi; \
	    if out=$$(ASAN_OPTIONS=detect_leaks=$(4):abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	              $(3) $(FZ)/$(2)/fuzz_$$t $$dirs 2>&1); then \
	        echo "  pass  $(1)  $$t: $$(echo "$$out" | tail -1 | sed 's/.*: //')"; \
	    else echo "$$out" | tail -40; echo "  FAIL  $(1)  $$t"; exit 1; fi; \
	done
endef
fuzz-regress: $(patsubst %,$(FZ)/replay/fuzz_%,$(FZ_REGRESS_TARGETS))
	$(call fz_regress,fuzz-regress,replay,,1)

# The same inputs through the aarch64 build under qemu-aarch64 (the guest's libraries from
# Debian's multiarch packages: ci/qemu-python.sh says why). LeakSanitizer is off there: it
# stops the process's threads with ptrace, which qemu-user does not provide to its guest.
fuzz-regress-arm64: $(patsubst %,$(FZ)/replay-arm64/fuzz_%,$(FZ_REGRESS_TARGETS))
	$(call fz_regress,fuzz-regress-arm64,replay-arm64,QEMU_LD_PREFIX=/ qemu-aarch64,0)

# --- fuzz: every target, both engines ----------------------------------------------------
fuzz: fuzz-build
	@mkdir -p $(FZ)/findings
	@rc=0; for t in $(FZ_TARGETS); do for e in lf afl; do \
	    mut=; [ $$e-$$t = afl-walk_snapshot ] && mut=$(abspath $(FZ_AFL_MUTATOR)); \
	    fuzz/run.sh $$e $$t $(FZ) $(FUZZ_SECONDS) $$mut || rc=1; \
	done; done; \
	if [ $$rc -ne 0 ]; then echo "fuzz: FINDINGS (see $(FZ)/findings/)"; exit 1; fi; \
	echo "fuzz: clean ($(words $(FZ_TARGETS)) targets x 2 engines x $(FUZZ_SECONDS) s)"

# --- fuzz-selftest: the fuzzers must be able to fail -------------------------------------
fuzz-selftest: $(FZ_PLANT_BINS) $(FZ)/replay/fuzz_walk
	@fuzz/selftest.sh $(FZ) $(FUZZ_SELFTEST_SECONDS) $(FZ_PLANTS)

# --- fuzz-mutants: the mutation campaign (docs/fuzzing.md, "Mutation campaign") --------
# Builds each mutant in a scratch tree (MUTANT_DIR), never in this one.
MUTANT_FUZZ_SECONDS ?= 30
fuzz-mutants:
	@python3 fuzz/mutants.py --fuzz-seconds $(MUTANT_FUZZ_SECONDS) \
	    $(if $(MUTANTS),--only $(MUTANTS)) $(if $(MUTANT_SAMPLE),--sample $(MUTANT_SAMPLE)) \
	    $(if $(MUTANT_DIR),--scratch $(MUTANT_DIR))

# --- corpus maintenance ------------------------------------------------------------------
$(FZ)/gen_seeds: fuzz/gen_seeds.c $(FZ_CORE_SRC) $(FZ_HDRS)
	@mkdir -p $(@D)
	$(call fz_say,LINK,tools,$@)
	$(FZ_Q)$(FZ_CC) $(FZ_CPPFLAGS) $(FZ_WARN) $(FZ_OPT) $(FZ_SAN) fuzz/gen_seeds.c $(FZ_CORE_SRC) -o $@

# Named seeds are rewritten in place; the hash-named copies an earlier merge made of the
# same bytes go (fuzz/corpus.sh says which files are which).
fuzz-seeds: $(FZ)/gen_seeds
	$(FZ)/gen_seeds corpus
	fuzz/corpus.sh dedupe $(patsubst %,corpus/%,$(FZ_TARGETS))

# Fold what the last `make fuzz` found into the committed seeds, keeping only inputs that
# add edge coverage (-use_counters=0: hit-count buckets would keep hundreds of near
# duplicates). Named files stay as they are; the hash-named ones are replaced
# (fuzz/corpus.sh fold). MERGE=a,b folds those targets only. Review before committing.
comma := ,
FZ_MERGE := $(if $(MERGE),$(subst $(comma), ,$(MERGE)),$(FZ_TARGETS))
fuzz-merge: $(patsubst %,$(FZ)/lf/fuzz_%,$(filter $(FZ_TARGETS),$(FZ_MERGE)))
	@for t in $(FZ_MERGE); do \
	    case " $(FZ_TARGETS) " in *" $$t "*) ;; \
	    *) echo "fuzz-merge: no target $$t (targets: $(FZ_TARGETS))" >&2; exit 2;; esac; \
	done
	@for t in $(FZ_MERGE); do \
	    rm -rf $(FZ)/merge/$$t; mkdir -p corpus/$$t $(FZ)/merge/$$t; \
	    $(FZ)/lf/fuzz_$$t -merge=1 -use_counters=0 $(FZ)/merge/$$t corpus/$$t \
	        $$(ls -d $(FZ)/work/*/$$t/corpus $(FZ)/work/afl/$$t/out/default/queue 2>/dev/null) \
	        > $(FZ)/merge/$$t.log 2>&1 || { tail $(FZ)/merge/$$t.log; exit 1; }; \
	    fuzz/corpus.sh fold $(FZ)/merge/$$t corpus/$$t; \
	    echo "  merge  $$t: $$(ls corpus/$$t | wc -l) files, $$(du -sk corpus/$$t | cut -f1) KiB"; \
	done

-include fuzz/coverage.mk
