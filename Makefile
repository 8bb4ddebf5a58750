# The README's two commands are `make demo` and `make check`; the other
# targets are their steps.  Each step installs or builds only what is missing.
BUILD      := build
MESON_DIR  := $(BUILD)/meson
GUEST_DIR  := $(BUILD)/guest
PROBE      := $(MESON_DIR)/tests/probe/probe

.PHONY: all deps build qemu qtests guest check check-unit demo bench clean

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

check: qemu qtests guest
	meson test -C $(MESON_DIR) --print-errorlogs

demo: qemu guest
	@bash scripts/demo.sh

# The benchmarks, as root: live migration blackout, LimeVI against bridge +
# VXLAN (some 6 minutes), and a VC's switchover, limevi migrate against
# independent migrations (some 20), and the tunnel data path against the
# bare veth and kernel VXLAN (some 2).  BENCH=vc-switchover runs one of them;
# BENCH_ARGS="--runs 3 --json out.json" passes options to each.
BENCHES := migration-blackout vc-switchover datapath
bench: qemu guest
	@for b in $(or $(BENCH),$(BENCHES)); do \
	  bash bench/$$b.sh $(BENCH_ARGS) || exit 1; \
	done

clean:
	rm -rf $(BUILD)
