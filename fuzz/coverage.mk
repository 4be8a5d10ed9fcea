# fuzz/coverage.mk — `make coverage`: line and branch coverage of core/ from the unit tests
# plus every fuzz corpus, written to docs/coverage.md. Included by fuzz/fuzz.mk.
#
# Everything is compiled once more with clang's source-based coverage (no sanitizers, so
# the figures are about the code, not the instrumentation), run, merged and reported by
# llvm-cov-14. Only core/ is reported: each core/*.c, and walk_body.h on its own (its code
# is counted in the files that instantiate it).

FZ_COV := $(FZ)/cov
FZ_COV_FLAGS := -O0 -g -fprofile-instr-generate -fcoverage-mapping
FZ_COV_TESTS := $(patsubst tests/unit/%.c,%,$(sort $(wildcard tests/unit/test_*.c)))
FZ_COV_SUPPORT := $(sort $(wildcard tests/unit/support/*.c))

$(FZ)/obj/cov/%.o: %.c $(FZ_HDRS) $(wildcard tests/unit/support/*.h)
	@mkdir -p $(@D)
	$(call fz_say,CC,cov,$<)
	$(FZ_Q)$(FZ_CC) $(FZ_CPPFLAGS) -Itests/unit $(FZ_WARN) $(FZ_COV_FLAGS) -c $< -o $@

FZ_COV_CORE_OBJS := $(patsubst %.c,$(FZ)/obj/cov/%.o,$(FZ_CORE_SRC))

$(FZ_COV)/fuzz_walk: $(FZ)/obj/cov/fuzz/walk_oracle.o
$(FZ_COV)/fuzz_names: $(FZ)/obj/cov/fuzz/names_oracle.o
$(FZ_COV)/fuzz_%: $(FZ)/obj/cov/fuzz/fuzz_%.o $(FZ)/obj/cov/fuzz/replay_main.o \
        $(patsubst %.c,$(FZ)/obj/cov/%.o,$(FZ_SUPPORT_SRC)) $(FZ_COV_CORE_OBJS)
	@mkdir -p $(@D)
	$(FZ_Q)$(FZ_CC) $(FZ_COV_FLAGS) $^ -o $@

$(FZ_COV)/test_%: $(FZ)/obj/cov/tests/unit/test_%.o $(patsubst %.c,$(FZ)/obj/cov/%.o,$(FZ_COV_SUPPORT)) $(FZ_COV_CORE_OBJS)
	@mkdir -p $(@D)
	$(FZ_Q)$(FZ_CC) $(FZ_COV_FLAGS) $^ -lcmocka -o $@

coverage: $(patsubst %,$(FZ_COV)/fuzz_%,$(FZ_TARGETS)) $(patsubst %,$(FZ_COV)/%,$(FZ_COV_TESTS))
	@rm -rf $(FZ_COV)/prof; mkdir -p $(FZ_COV)/prof
	@for t in $(FZ_COV_TESTS); do \
	    LLVM_PROFILE_FILE=$(FZ_COV)/prof/unit-$$t.profraw $(FZ_COV)/$$t > $(FZ_COV)/$$t.log 2>&1 \
	        || echo "  note  coverage: unit test $$t failed (log: $(FZ_COV)/$$t.log)"; \
	done
	@for t in $(FZ_TARGETS); do \
	    dirs=""; for d in corpus/$$t fuzz/regressions/$$t; do [ -d $$d ] && dirs="$$dirs $$d"; done; \
	    case $$t in walk_snapshot|snapshot_decode) [ -d corpus/snapshots ] && dirs="$$dirs corpus/snapshots";; esac; \
	    LLVM_PROFILE_FILE=$(FZ_COV)/prof/fuzz-$$t.profraw $(FZ_COV)/fuzz_$$t $$dirs > $(FZ_COV)/fuzz_$$t.log 2>&1; \
	done
	@llvm-profdata-14 merge -sparse $(FZ_COV)/prof/*.profraw -o $(FZ_COV)/all.profdata
	@llvm-profdata-14 merge -sparse $(FZ_COV)/prof/unit-*.profraw -o $(FZ_COV)/unit.profdata
	@llvm-profdata-14 merge -sparse $(FZ_COV)/prof/fuzz-*.profraw -o $(FZ_COV)/fuzz.profdata
	@fuzz/coverage-report.sh $(FZ_COV) $(FZ_CORE_SRC) core/walk_body.h > docs/coverage.md
	@cat docs/coverage.md | sed -n '/^| file/,/^$$/p'
	@echo "  wrote docs/coverage.md (html-less; details: llvm-cov-14 show over $(FZ_COV)/all.profdata)"
