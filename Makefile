# The two commands: `make run` (the main job) and `make test` (build and pass every test).
# Each installs missing Debian packages first (scripts/install-deps), then configures and builds.
.PHONY: run test bench asan deps build check clean

JOBS ?= $(shell nproc)
BUILD_DIR ?= build
CONFIG ?= examples/securityhub-backlog.yaml
CMAKE_FLAGS ?=
HIKYAKU = $(BUILD_DIR)/src/cli/hikyaku

deps:
	@scripts/install-deps

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHIKYAKU_WERROR=ON $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The main job: the router with the Security Hub -> Backlog example on the embedded SQLite store.
run: build
	@$(HIKYAKU) validate --config $(CONFIG)
	@echo
	@echo "Starting hikyaku (Ctrl-C stops it). From another shell, send a sample finding:"
	@echo "  $(HIKYAKU) send --endpoint http://127.0.0.1:4010 tests/data/securityhub/01-fsbp-ec2-19-critical-failed.json"
	@echo "What Backlog would receive is also written to var/backlog-issues.jsonl."
	@echo "Set BACKLOG_HOST and BACKLOG_API_KEY to file real Backlog issues."
	@echo
	$(HIKYAKU) serve --config $(CONFIG)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# Release build; benchmarks print their figures with ratios against a baseline from the same run.
bench: deps
	cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build build-release -j $(JOBS)
	scripts/run-benchmarks build-release

# ASan + UBSan build running every test.
asan: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHIKYAKU_SANITIZE=address,undefined
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS)

check:
	scripts/check-layering
	clang-format --dry-run --Werror $$(git ls-files 'src/*.h' 'src/*.cc' 'bench/*.cc' 'tests/*.cc' 'tests/*.h')

clean:
	rm -rf build build-release build-asan
