# pppup — build, install and test.
#
# `make test` is the whole story on a fresh Debian 12 machine, as root: it
# installs the Debian packages and Python packages it needs (once; a second
# run skips what is there), builds, installs pppup for real (the attack suite
# needs the real setuid shim) and runs the suite, VM tests included.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYS := /usr/bin/python3.11
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
STAMPS := .stamps
VM_BOOT ?= per-file

# Debian packages: pppd/chat and the plugin headers, the VM (QEMU, busybox for
# the initramfs), the C toolchain with the sanitizer runtimes, libcap-dev for
# python-prctl, mgetty for the interop tests, sudo and hyperfine for the
# benchmarks' peers, groff (man pages render without warnings), zsh and fish
# (their completion scripts are tested in those shells).
APT_PACKAGES := ppp ppp-dev qemu-system-x86 busybox-static gcc make libc6-dev \
	libcap-dev libffi-dev python3.11 python3.11-dev python3.11-venv \
	iproute2 iputils-ping mgetty socat sudo strace hyperfine passwd util-linux \
	groff-base zsh fish

.PHONY: help bootstrap build test test-host test-vm vm-image demo clean

help:
	@echo "make demo   - in a throwaway VM: a user dials a call-back ISP with pppup, pings across, pppdown"
	@echo "make test   - install what is needed, build, install, run every test (VM included)"
	@echo "other targets: bootstrap build install uninstall test-host test-vm bench fuzz stress clean"

# ---------------------------------------------------------------- bootstrap
$(STAMPS)/apt: Makefile
	@mkdir -p $(STAMPS)
	@missing=$$(dpkg-query -W -f='$${Package} $${db:Status-Status}\n' $(APT_PACKAGES) 2>/dev/null \
		| awk '$$2 != "installed" {print $$1}'; \
		for p in $(APT_PACKAGES); do dpkg-query -W $$p >/dev/null 2>&1 || echo $$p; done); \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
		echo "apt: installing $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null; \
	else echo "apt: all packages present"; fi
	@touch $@

# The cffi build scripts are inputs too: pip's editable install compiles them.
$(STAMPS)/venv: $(STAMPS)/apt pyproject.toml setup.py helper/pppup_helper/_syscalls_build.py \
		client/pppup/chat/_scan_build.py
	@mkdir -p $(STAMPS)
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	@$(PY) -m pip install -q -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c 'import serial, cffi, prctl, click, pytest, hypothesis' 
	@touch $@

bootstrap: $(STAMPS)/venv

# -------------------------------------------------------------------- build
build: bootstrap

# --- build: setuid shim (gate).  The paths are pppup_protocol/paths.py's
# values (tests/test_paths.py checks they agree); `make print-shim-defines`.
PPPUP_PYTHON := /usr/bin/python3.11
PPPUP_LIBDIR := /usr/local/lib/pppup
PPPUP_HELPER_ENTRY := $(PPPUP_LIBDIR)/pppup-helper.py
SHIM_DEFINES := -DPPPUP_PYTHON='"$(PPPUP_PYTHON)"' -DPPPUP_HELPER_ENTRY='"$(PPPUP_HELPER_ENTRY)"'
SHIM_WARN := -Wall -Wextra -Werror
SHIM_HARDEN := -O2 -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE -pie -Wl,-z,relro,-z,now
# Test-only build: sanitizers, and "report what would be exec'd" instead of
# becoming root; never installed, never setuid.
SHIM_SANITIZE := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

build: csrc/pppup-shim csrc/pppup-shim-asan

csrc/pppup-shim: csrc/pppup-shim.c Makefile
	gcc $(SHIM_WARN) $(SHIM_HARDEN) $(SHIM_DEFINES) -o $@ $<

# Its helper entry is a test path under /run (root-owned chain) that
# tests/shim creates and tampers with.
SHIM_TEST_DEFINES := -DPPPUP_SHIM_TEST -DPPPUP_PYTHON='"$(PPPUP_PYTHON)"' \
	-DPPPUP_HELPER_ENTRY='"/run/pppup-shim-test/pppup-helper.py"'

csrc/pppup-shim-asan: csrc/pppup-shim.c Makefile
	gcc $(SHIM_WARN) $(SHIM_SANITIZE) $(SHIM_TEST_DEFINES) -o $@ $<

.PHONY: print-shim-defines
print-shim-defines:
	@echo "PYTHON=$(PPPUP_PYTHON)"
	@echo "HELPER_ENTRY=$(PPPUP_HELPER_ENTRY)"
	@echo "LIBDIR=$(PPPUP_LIBDIR)"

# --- build: pppd secret plugin (line).  Built against Debian's ppp-dev 2.4.9
# headers; pppd dlopen()s it, so -shared -fPIC, hardened like the shim.
PLUGIN_CFLAGS := -Wall -Wextra -Werror -O2 -D_FORTIFY_SOURCE=3 -fstack-protector-strong \
	-fPIC -shared -Wl,-z,relro,-z,now

build: csrc/pppup-secret.so

csrc/pppup-secret.so: csrc/pppup-secret.c Makefile
	gcc $(PLUGIN_CFLAGS) -o $@ $<

# --- build: the link supervisor (h8).  What the helper execs once pppd is up
# (same pid; csrc/pppup-supervise.c); it execs the helper's finish step, so
# it takes the shim's paths and hardening flags.  The test build (ASan/UBSan)
# runs the repository's finish step (tests/line/finish_entry.py) instead of
# the installed one; it is never installed.
build: csrc/pppup-supervise csrc/pppup-supervise-asan

csrc/pppup-supervise: csrc/pppup-supervise.c Makefile
	gcc $(SHIM_WARN) $(SHIM_HARDEN) $(SHIM_DEFINES) -o $@ $<

SUPERVISE_TEST_DEFINES := -DPPPUP_SUPERVISE_TEST -DPPPUP_PYTHON='"$(PPPUP_PYTHON)"' \
	-DPPPUP_HELPER_ENTRY='"$(CURDIR)/tests/line/finish_entry.py"'

csrc/pppup-supervise-asan: csrc/pppup-supervise.c Makefile
	gcc $(SHIM_WARN) $(SHIM_SANITIZE) $(SUPERVISE_TEST_DEFINES) -o $@ $<

# ---------------------------------------------------------------- install
# --- install (gate): root; helper/install.sh does the work and records every
# path it writes in /usr/local/lib/pppup/installed-files for uninstall.
.PHONY: install uninstall
install: build
	@bash helper/install.sh install csrc/pppup-shim csrc/pppup-secret.so $(PY) csrc/pppup-supervise

uninstall:
	@bash helper/install.sh uninstall

# --- fuzz and bench-helper (gate).  `make fuzz` runs long campaigns: the
# request decoder here (>= 100,000 inputs); the policy parser joins it.
.PHONY: fuzz bench-helper
fuzz: build
	$(PY) tests/protocol/fuzz_decoder.py --inputs $${FUZZ_INPUTS:-100000}
	$(PY) tests/policy/fuzz_policy.py --inputs $${FUZZ_INPUTS:-100000}

# Needs root: installs, then measures `status` through the setuid shim as a
# throwaway user beside `sudo -n true`; writes docs/benchmarks.md.
bench-helper: install
	$(PY) bench/bench_helper.py --calls $${BENCH_CALLS:-200}

# --- bench-policy (policy): what loading the policy costs a fresh helper
# process (import, first load, warm load); root; writes docs/benchmarks.md.
.PHONY: bench-policy
bench-policy: build
	$(PY) bench/bench_policy.py --runs $${BENCH_RUNS:-30}

# ------------------------------------------------------------------- tests
# The suite needs the real install: the attack suite runs against the setuid
# shim, and the VM guest sees the host's /usr/local read-only.
test: build install
	@$(MAKE) --no-print-directory test-host; host=$$?; \
	 $(MAKE) --no-print-directory test-vm; vm=$$?; \
	 echo "host tests: exit $$host; VM tests: exit $$vm"; \
	 test $$host -eq 0 -a $$vm -eq 0

test-host: build
	$(PYTEST) -m "not vm"

# --- simulator (sim/): its own tests, on the host (ptys, Debian's chat).
.PHONY: test-sim
test-sim: build
	$(PYTEST) tests/sim -q

# --- chat engine (client/pppup/chat): its tests alone, and bench-chat
# (pppup-chat vs /usr/sbin/chat on the simulator; writes docs/benchmarks.md).
.PHONY: test-chat bench-chat
test-chat: build
	$(PYTEST) tests/chat -q

bench-chat: build
	$(PY) bench/bench_chat.py

# The VM: Debian's kernel + a busybox initramfs, cached in .cache/vm/ (see
# tests/vm/).  test-vm boots one guest per vm test file (VM_BOOT=once: one
# guest for all) and prints how many tests ran inside it.
vm-image: build
	$(PY) -m tests.vm.image

test-vm: build install
	@$(PY) -m tests.vm.suite --boot $(VM_BOOT); status=$$?; \
	 $(PY) -m tests.reliability_report --vm-results .cache/vm/results; exit $$status

# --- bench-vm (VM runner): boot time, smoke scenario time, QEMU RSS, cold
# image build; writes docs/benchmarks.md.
.PHONY: bench-vm
bench-vm: build
	$(PY) bench/bench_vm.py --boots $${BENCH_BOOTS:-9}

# --- reliability (h11).  make test runs the fault sweep and the mgetty
# interop (tests/vm/test_faults.py, test_mgetty.py: their results are
# rendered into docs/reliability.md after test-vm; a complete sweep
# replaces the table) and the races at 40 trials (tests/races).
# stress: the races' full 1,000 trials, then the sweep FAULT_ROUNDS times
# (default 2) in one guest.  bench-e2e: pppup vs pon/poff in the VM, into
# docs/benchmarks.md.  All need root; they hold the machine-wide test lock
# (tests/machine_lock.py), so nobody reinstalls pppup under a running guest.
.PHONY: stress bench-e2e reliability-doc
STRESS_OUT := .cache/vm/stress
MACHINE_LOCK := /run/lock/pppup-attack-suite.lock

stress: build install
	RACE_TRIALS=$${RACE_TRIALS:-1000} $(PYTEST) tests/races -q -p no:cacheprovider
	rm -rf $(STRESS_OUT) && mkdir -p $(STRESS_OUT)
	flock $(MACHINE_LOCK) $(PY) -m tests.vm.run --timeout $${STRESS_TIMEOUT:-7200} --lines 1 --out $(STRESS_OUT) \
		--env FAULT_ROUNDS=$${FAULT_ROUNDS:-2} -- $(PYTEST) -m vm -p no:cacheprovider -p no:hypothesispytest \
		-v tests/vm/test_faults.py
	$(PY) -m tests.reliability_report --vm-results $(STRESS_OUT)

reliability-doc:
	$(PY) -m tests.reliability_report --vm-results .cache/vm/results

bench-e2e: build install
	$(PY) bench/bench_e2e.py --runs $${BENCH_RUNS:-7}

# ------------------------------------------------------------------- demo
# (user flows) In the VM, which sees this install: a user `demo` runs
# `pppup office` through the KPPP seed's call-back flow to a live link on a
# real UART (simulated modem and callback server, real pppd at both ends),
# pings across, `pppup status`, `pppdown`; a readable transcript
# (tests/vm/demo.py).  The older two-modem smoke scenario: make demo-smoke.
.PHONY: demo-smoke
demo: build install
	$(PY) -m tests.vm.run --timeout 300 --lines 1 --env PYTHONPATH=sim -- $(PY) -m tests.vm.demo

demo-smoke: build
	$(PY) -m tests.vm.run --timeout 300 --lines 2 --env PYTHONPATH=sim -- $(PY) -m tests.vm.smoke

clean:
	rm -rf build dist *.egg-info $(STAMPS) .pytest_cache
