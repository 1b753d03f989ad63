# The project's commands. Each one installs what is missing first, so a fresh Debian 12 machine
# needs nothing but `make demo` or `make test`.
BUILD       ?= build
ASAN_BUILD  ?= build-asan
BUILD_TYPE  ?= RelWithDebInfo
JOBS        ?= $(shell nproc)
FUZZ_SECONDS ?= 60

CMAKE_FLAGS = -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

.PHONY: all deps configure build test test-fast sanitize sanitize-build demo bench fuzz format check-format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# Every test, then the same tests again under AddressSanitizer and UBSan.
test: test-fast sanitize

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

sanitize-build: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DIPSX_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)

sanitize: sanitize-build
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900 -LE "bench|anvil"

demo: build
	scripts/demo.sh $(BUILD)/bin/ipsx

# Benchmarks: figures go to $(BUILD)/bench/results.json (one flat object, all measured in this run).
bench: build
	@scripts/install-deps.sh --bench
	rm -rf $(BUILD)/bench && mkdir -p $(BUILD)/bench
	$(BUILD)/bin/ipsx-bench-crypto --results $(BUILD)/bench/results.json
	$(BUILD)/bin/ipsx-bench-ledger --results $(BUILD)/bench/results.json
	$(BUILD)/bin/ipsx-bench-market --results $(BUILD)/bench/results.json
	$(BUILD)/bin/ipsx-bench-proxy --results $(BUILD)/bench/results.json
	$(BUILD)/bin/ipsx-bench-eth --results $(BUILD)/bench/results.json
	$(BUILD)/bin/ipsx-bench-node --results $(BUILD)/bench/results.json
	@echo "results: $(BUILD)/bench/results.json" && cat $(BUILD)/bench/results.json

# Mutation fuzzing of the parsers that take outside input, FUZZ_SECONDS per target, under
# ASan/UBSan. A crashing input is left in $(ASAN_BUILD)/ipsx-fuzz-crash.bin.
fuzz: sanitize-build
	cd $(ASAN_BUILD) && bin/ipsx-fuzz --seconds $(FUZZ_SECONDS) --all

format:
	find src apps bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

check-format:
	find src apps bench -name '*.h' -o -name '*.cc' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
