# The two commands: `make run` (the main job) and `make test` (build and pass every test).
# Each installs missing Debian packages first (scripts/install-deps), then configures and builds.
# CI (.ci/run) runs `make check`, `make test`, `make asan`, `make tsan` and a short `make fuzz`.
.PHONY: run test bench asan tsan fuzz deb deps build configure lint check format clean

JOBS ?= $(shell nproc)
BUILD_DIR ?= build
CONFIG ?= examples/securityhub-backlog.yaml
CMAKE_FLAGS ?=
HIKYAKU = $(BUILD_DIR)/src/cli/hikyaku

# ccache (installed by install-deps) makes rebuilds cheap; with a base directory and no working
# directory in the hash, clones in other folders share one cache.
ifneq ($(shell command -v ccache 2>/dev/null),)
CMAKE_FLAGS += -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true
endif

deps:
	@scripts/install-deps

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHIKYAKU_WERROR=ON $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The main job: the router with the Security Hub -> Backlog example on the embedded SQLite store.
# Without BACKLOG_ENDPOINT and BACKLOG_API_KEY it is a dry run (nothing leaves the machine).
run: build
	@if [ -z "$$BACKLOG_ENDPOINT" ] || [ -z "$$BACKLOG_API_KEY" ]; then export BACKLOG_DRY_RUN=true; \
	  echo "Dry run: BACKLOG_ENDPOINT and BACKLOG_API_KEY are not both set, so no issue is filed;"; \
	  echo "each action is logged and written to var/backlog-dry-run.jsonl."; \
	else echo "Filing issues in $$BACKLOG_ENDPOINT, project $${BACKLOG_PROJECT:-SEC}."; fi; \
	$(HIKYAKU) validate --config $(CONFIG) >/dev/null && \
	echo "From another shell, send a finding, its re-import and its resolution:" && \
	echo "  $(HIKYAKU) send --endpoint http://127.0.0.1:4010 tests/data/securityhub/01-fsbp-ec2-19-critical-failed.json" && \
	echo "  $(HIKYAKU) send --endpoint http://127.0.0.1:4010 tests/data/securityhub/16-custom-action-send-to-backlog.json" && \
	echo "  $(HIKYAKU) send --endpoint http://127.0.0.1:4010 tests/data/securityhub/09-fsbp-ec2-19-passed-update-same-id.json" && \
	echo "Ctrl-C stops it." && echo && \
	exec $(HIKYAKU) serve --config $(CONFIG)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# Release build; benchmarks print their figures with ratios against a baseline from the same run.
bench: deps
	cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build build-release -j $(JOBS)
	scripts/run-benchmarks build-release

# The Debian package (CPack, packaging/): a Release build of the binary for any x86-64 CPU in
# build-deb, packaged as build-deb/hikyaku_<version>_<arch>.deb. For a binary that runs on AVX2
# (Haswell or newer) CPUs only, and parses faster: make deb DEB_CMAKE_FLAGS=-DHIKYAKU_PORTABLE=OFF
DEB_CMAKE_FLAGS ?= -DHIKYAKU_PORTABLE=ON
deb: deps
	cmake -S . -B build-deb -G Ninja -DCMAKE_BUILD_TYPE=Release $(DEB_CMAKE_FLAGS) $(CMAKE_FLAGS)
	cmake --build build-deb -j $(JOBS) --target hikyaku
	cd build-deb && cpack -G DEB
	@echo "Install with: sudo apt install ./$$(ls build-deb/hikyaku_*.deb | tail -1)"

# ASan + UBSan build running every test but those labelled slow (they wait on real time),
# package (the Debian package is checked by `make test`; the sanitizers have nothing to add) or
# browser (the console in Chromium: its timing under the sanitizers adds only flakiness).
asan: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHIKYAKU_SANITIZE=address,undefined $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS) -LE 'slow|package|browser'

# ThreadSanitizer over the components that share state between threads.
TSAN_TESTS = server_test bus_test store_test delivery_test
TSAN_REGEX = ^(server|bus|store|delivery)_test$$
tsan: deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHIKYAKU_SANITIZE=thread $(CMAKE_FLAGS)
	cmake --build build-tsan -j $(JOBS) --target $(TSAN_TESTS)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	  ctest --test-dir build-tsan --output-on-failure -j $(JOBS) -R '$(TSAN_REGEX)'

# Coverage-guided fuzzing (fuzz/, docs/fuzzing.md): clang with libFuzzer, ASan and UBSan in
# build-fuzz; each target runs its kept regression inputs, then FUZZ_SECONDS of fuzzing.
FUZZ_SECONDS ?= 60
fuzz: deps
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DHIKYAKU_FUZZ=ON -DHIKYAKU_SANITIZE=address,undefined $(CMAKE_FLAGS)
	cmake --build build-fuzz -j $(JOBS) --target fuzz_all
	scripts/run-fuzz build-fuzz $(FUZZ_SECONDS)

# Static checks: the include graph, formatting, clang-tidy with clang's thread-safety analysis.
# `make lint` is the fast part (layering and formatting). clang-tidy over the tree takes ~10
# minutes on 2 cores from cold; scripts/run-tidy remembers translation units that were clean.
lint:
	scripts/check-layering
	clang-format --dry-run --Werror $$(git ls-files 'src/*.h' 'src/*.cc' 'bench/*.h' 'bench/*.cc' 'tests/*.cc' 'tests/*.h' 'fuzz/*.cc' 'fuzz/*.h')

check: configure lint
	scripts/run-tidy $(BUILD_DIR) $(JOBS)

format:
	clang-format -i $$(git ls-files 'src/*.h' 'src/*.cc' 'bench/*.h' 'bench/*.cc' 'tests/*.cc' 'tests/*.h' 'fuzz/*.cc' 'fuzz/*.h')

clean:
	rm -rf build build-release build-asan build-tsan build-deb build-fuzz
