# The README's two commands are `make demo` and `make check`; the other
# targets are their steps.  Each step installs or builds only what is missing.
BUILD      := build
MESON_DIR  := $(BUILD)/meson
GUEST_DIR  := $(BUILD)/guest
PROBE      := $(MESON_DIR)/tests/probe/probe

.PHONY: all deps build qemu qtests guest check check-unit check-fuzz demo bench \
	clean fuzz fuzz-build fuzz-seeds

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@test -f $(MESON_DIR)/build.ninja || meson setup $(MESON_DIR) .
	@ninja -C $(MESON_DIR)

qemu: build
	@bash qemu-patches/build-qemu.sh

# QEMU's migration-test and netdev-socket, in the cached QEMU build.
qtests: qemu
	@bash qemu-patches/build-qtests.sh >/dev/null

guest: build
	@bash tests/guest/build-image.sh $(GUEST_DIR) $(PROBE)

# Unit and fuzz suites only: no QEMU build needed.
check-unit: build
	meson test -C $(MESON_DIR) --print-errorlogs --suite unit --suite fuzz

# On a failure, the causes are printed last: CI keeps only the tail.
check: qemu qtests guest
	@meson test -C $(MESON_DIR) --print-errorlogs || \
	  { python3 scripts/test-failures.py $(MESON_DIR)/meson-logs/testlog.json; \
	    exit 1; }
	@$(MAKE) --no-print-directory check-fuzz

# Fuzzing (docs/testing.md): a clang build with ASan and UBSan in
# build/fuzz, and the libFuzzer targets of tests/fuzz.  "make fuzz" runs
# each for FUZZ_RUNS executions (FUZZ_TIME > 0: at most that many
# seconds each), from the checked-in corpus, adding what it finds to
# build/fuzz/corpus; a crash stops it and leaves build/fuzz/crash-*.
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_TARGETS := wire-decode port state-load buffer-load
FUZZ_RUNS    ?= 10000000
FUZZ_TIME    ?= 0
FUZZ_RSS_MB  ?= 2048
# A whole datagram for the decoder; a script, a state or a buffer needs
# no more than 4 KiB to reach every path.
FUZZ_MAX_LEN_WIRE := 70000
FUZZ_MAX_LEN      := 4096
# For the unit suite under the sanitizers: full malloc stacks, so that
# tests/fuzz/lsan.supp can name the source file of a tolerated leak.
FUZZ_UNIT_ENV := ASAN_OPTIONS=abort_on_error=1:fast_unwind_on_malloc=0 \
	UBSAN_OPTIONS=print_stacktrace=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp:print_suppressions=0

fuzz-build: deps
	@test -f $(FUZZ_DIR)/build.ninja || CC=clang meson setup $(FUZZ_DIR) . \
	  -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false
	@ninja -C $(FUZZ_DIR)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	  max_len=$(FUZZ_MAX_LEN); \
	  [ $$t != wire-decode ] || max_len=$(FUZZ_MAX_LEN_WIRE); \
	  echo "fuzz-$$t: $(FUZZ_RUNS) runs"; \
	  UBSAN_OPTIONS=print_stacktrace=1 nice -n 10 $(FUZZ_DIR)/tests/fuzz/fuzz-$$t \
	    -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_TIME) \
	    -rss_limit_mb=$(FUZZ_RSS_MB) -malloc_limit_mb=$(FUZZ_RSS_MB) \
	    -max_len=$$max_len \
	    -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/crash-$$t- \
	    $(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t \
	    > $(FUZZ_DIR)/fuzz-$$t.log 2>&1 || \
	    { tail -40 $(FUZZ_DIR)/fuzz-$$t.log; exit 1; }; \
	  grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' \
	    $(FUZZ_DIR)/fuzz-$$t.log; \
	done

# make check's share: the unit and fuzz suites under ASan and UBSan,
# then 30 s (or 200 000 runs) of each target.
check-fuzz: fuzz-build
	$(FUZZ_UNIT_ENV) meson test -C $(FUZZ_DIR) --print-errorlogs \
	  --suite unit --suite fuzz
	@$(MAKE) --no-print-directory fuzz FUZZ_RUNS=200000 FUZZ_TIME=30

# Rewrites the seed corpus from real ports (tests/fuzz/fuzz-seeds.c).
fuzz-seeds: build
	rm -rf tests/fuzz/corpus
	$(MESON_DIR)/tests/fuzz/fuzz-seeds tests/fuzz/corpus

demo: qemu guest
	@bash scripts/demo.sh

# The benchmarks, as root: live migration blackout, LimeVI against bridge +
# VXLAN (some 6 minutes), and a VC's switchover, limevi migrate against
# independent migrations (some 20), the tunnel data path against the
# bare veth and kernel VXLAN (some 2), and guests' UDP over -netdev limevi
# against dgram and tap + VXLAN (some 2).  BENCH=vc-switchover runs one;
# BENCH_ARGS="--runs 3 --json out.json" passes options to each.
BENCHES := migration-blackout vc-switchover datapath datapath-guests
bench: qemu guest
	@for b in $(or $(BENCH),$(BENCHES)); do \
	  bash bench/$$b.sh $(BENCH_ARGS) || exit 1; \
	done

clean:
	rm -rf $(BUILD)
