# The project's commands. Each one installs what is missing first, so a fresh Debian 12 machine
# needs nothing but `make demo` or `make test`.
BUILD       ?= build
ASAN_BUILD  ?= build-asan
BUILD_TYPE  ?= RelWithDebInfo
JOBS        ?= $(shell nproc)
# Tests at once: twice the cores, since most end-to-end tests wait (on a challenge period, a
# restart, a socket) more than they compute.
TEST_JOBS   ?= $(shell echo $$(( $$(nproc) * 2 )))
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 300
SOAK_KILLS   ?= 40

# Line tables only (-g1): backtraces, perf and sanitizer reports name file and line; full debug
# info (-g) made the cold build half again as long (docs/testing.md). BUILD_TYPE=Debug for gdb.
CMAKE_FLAGS = -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
              -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"

.PHONY: all deps configure build install package quickstart test check-size test-fast sanitize sanitize-build sanitize-all demo bench bench-scale fuzz soak chaos netbed-test format check-format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# Installs the program, its data, man page, completions and service units under PREFIX (default
# /usr/local; DESTDIR for staging), as the package does under /usr (docs/operations.md).
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX) --component ipsx

# The Debian package: $(BUILD)/ipsx_VERSION_ARCH.deb (CPack; docs/operations.md).
package: build
	cd $(BUILD) && cpack -G DEB

# The size limits first (no production file over 800 lines, no function over 150:
# scripts/code-size.sh), then every test, then the one-process tests again under AddressSanitizer
# and UBSan.
test: check-size test-fast sanitize

check-size:
	scripts/code-size.sh

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS) --timeout 600

# The sanitizer build: ASan and UBSan, no optimization, line tables.
ASAN_CONFIGURE = cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
                 -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DIPSX_SANITIZE=ON

# The sanitizer pass of `make test`: the programs that test the layers in one process (gtest
# binaries over real sockets, SQLite files and anvil, the fuzz targets, the C client program),
# which reach the libraries' code with the inputs that find memory errors. The end-to-end scripts
# run the same libraries through the `ipsx` binary, mostly waiting on challenge periods and
# restarts; under the sanitizers they cost 5 minutes of a cold run, and what they failed on there
# was timing, never memory (docs/testing.md). `make sanitize-all` runs every test.
sanitize-build: deps
	$(ASAN_CONFIGURE)
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target unit_tests

sanitize: sanitize-build
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(TEST_JOBS) --timeout 900 \
	  -LE "e2e|adversary|bench|anvil|chaos"

sanitize-all: deps
	$(ASAN_CONFIGURE)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(TEST_JOBS) --timeout 900 -LE "bench|anvil|chaos"

# The testbed's tests alone (label netbed: network namespaces, veth pairs, nftables NATs; needs
# root). `make test` runs them too. scripts/netbed.sh up|down|exec HOST CMD for people.
netbed-test: build
	cd $(BUILD) && ctest --output-on-failure -L netbed --timeout 600

# `make demo` on the embedded ledger; `make demo LEDGER=ethereum` on a local anvil (the contracts).
LEDGER ?= embedded
demo: build
ifeq ($(LEDGER),ethereum)
	scripts/demo-eth.sh $(BUILD)/bin/ipsx $(BUILD)/share/ipsx/contracts
else ifeq ($(LEDGER),embedded)
	scripts/demo.sh $(BUILD)/bin/ipsx
else
	@echo "LEDGER must be embedded or ethereum, not '$(LEDGER)'" >&2; exit 2
endif

# An exchange left running for a person to try by hand (README, "Quick start"): a node, two
# providers and a gateway on loopback, in QUICKSTART_DIR; QUICKSTART_DIR/stop stops them.
# (QUICKSTART_PREBUILT=1: use the build as it is, installing and building nothing: the test that
# runs the README's lines sets it, so that it never rebuilds under the tests running beside it.)
QUICKSTART_DIR ?= quickstart
quickstart: $(if $(QUICKSTART_PREBUILT),,build)
	scripts/quickstart.sh $(BUILD)/bin/ipsx $(QUICKSTART_DIR)

# Benchmarks: figures go to $(BUILD)/bench/results.json (one flat object, all measured in this run).
bench: build
	@scripts/install-deps.sh --bench
	@# Only this run's figures: the old results go (not the directory, which holds the bench
	@# programs' objects; each program clears its own data directory).
	rm -f $(BUILD)/bench/results.json && mkdir -p $(BUILD)/bench
	@# Each program starts with the disk written out: the ledger's benchmarks leave ~0.5 GB of
	@# dirty pages, whose writeback would otherwise run (and take memory bandwidth) during the
	@# next program's measurements.
	sync && $(BUILD)/bin/ipsx-bench-crypto --results $(BUILD)/bench/results.json
	sync && $(BUILD)/bin/ipsx-bench-ledger --results $(BUILD)/bench/results.json
	sync && $(BUILD)/bin/ipsx-bench-market --results $(BUILD)/bench/results.json
	sync && $(BUILD)/bin/ipsx-bench-proxy --results $(BUILD)/bench/results.json
	sync && $(BUILD)/bin/ipsx-bench-eth --results $(BUILD)/bench/results.json
	sync && $(BUILD)/bin/ipsx-bench-node --results $(BUILD)/bench/results.json
	@# The web app's pages as a browser loads them from the programs that serve them.
	bench/web_bench.sh $(BUILD)/bin/ipsx $(BUILD)/bench/results.json
	@# The testbed's paths (direct, relayed), when network namespaces can be made (root).
	bench/netbed_bench.sh $(BUILD)/bin/ipsx $(BUILD)/bench/results.json
	@# Ratios across programs, of figures this run measured (none if either is missing).
	bench/ratios.sh $(BUILD)/bench/results.json
	@echo "results: $(BUILD)/bench/results.json" && cat $(BUILD)/bench/results.json

# How cost grows: the measured parts at their usual size and larger (bench/scale.sh names the
# curves), into $(BUILD)/bench/scale.json; bounded to 15 minutes.
bench-scale: build
	@scripts/install-deps.sh --bench
	timeout 900 bench/scale.sh $(BUILD)

# Mutation fuzzing of the parsers that take outside input, FUZZ_SECONDS per target, under
# ASan/UBSan. A crashing input is left in $(ASAN_BUILD)/ipsx-fuzz-crash.bin.
fuzz: sanitize-build
	cd $(ASAN_BUILD) && bin/ipsx-fuzz --seconds $(FUZZ_SECONDS) --all

# Long runs, bounded: SOAK_SECONDS of connection churn through a gateway and an exit (descriptors
# and memory must stay flat), then the node killed SOAK_KILLS times mid-trading (every
# acknowledged order, deal and status must survive).
soak: build
	IPSX_SOAK_SECONDS=$(SOAK_SECONDS) $(BUILD)/bin/net_tests --gtest_filter='DataPlane.Soak*'
	tests/e2e/node_crash_e2e.sh $(BUILD)/bin/ipsx $(SOAK_KILLS)

# Chaos, longer than the test suite's minute: CHAOS_SECONDS of deals while the node, each provider
# and the gateway are SIGKILLed CHAOS_KILLS times each at random moments (CHAOS_SEED replays a
# run's choices); then every honest party's money is checked (tests/e2e/chaos_e2e.sh).
CHAOS_SECONDS ?= 300
CHAOS_KILLS   ?= 15
chaos: build
	tests/e2e/chaos_e2e.sh $(BUILD)/bin/ipsx $(CHAOS_SECONDS) $(CHAOS_KILLS) $(CHAOS_SEED)

FORMATTED = find src apps bench examples fuzz \( -name '*.h' -o -name '*.cc' \) -print0

format: deps
	$(FORMATTED) | xargs -0 clang-format -i

# Fails, naming each place, if a C++ file is not as .clang-format says (.ci/run runs it).
check-format: deps
	$(FORMATTED) | xargs -0 clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
