# Thin wrappers over scripts/ and CMake. See README.md.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all build test run cluster bench deps clean format test-asan test-tsan fuzz

all: build

deps:
	@scripts/deps.sh build

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# The whole suite on the release build, then unit + integration again under ASan/UBSan (ASAN=0 skips that part).
ASAN ?= 1
test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory build
	@if [ "$(ASAN)" != 0 ]; then $(MAKE) --no-print-directory build BUILD=build-asan \
		CMAKE_FLAGS="-DPUSHER_SANITIZE=ON -DPUSHER_BENCH=OFF"; fi
	@scripts/test.sh $(BUILD) $(if $(filter-out 0,$(ASAN)),build-asan)

run: build
	@scripts/run.sh $(BUILD)

# A local cluster in the foreground until Ctrl-C: RabbitMQ cluster of 2 (5701/5702), pusher nodes 8081-8083, nginx on
# 8080 (scripts/cluster.sh, deploy/nginx.conf.template).
cluster:
	@scripts/deps.sh cluster
	@$(MAKE) --no-print-directory build
	@scripts/cluster.sh $(BUILD)

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory build
	@scripts/bench.sh $(BUILD)

test-asan:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory build BUILD=build-asan CMAKE_FLAGS="-DPUSHER_SANITIZE=ON -DPUSHER_BENCH=OFF"
	@scripts/test.sh build-asan

test-tsan:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory build BUILD=build-tsan CMAKE_FLAGS="-DPUSHER_TSAN=ON -DPUSHER_BENCH=OFF"
	@scripts/test.sh build-tsan

# libFuzzer targets (fuzz/, clang + ASan/UBSan, built in build-fuzz): each over its corpus, then FUZZ_SECONDS of
# fuzzing per target. `make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="jwt sio_packet"` for longer runs of a few.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz:
	@scripts/deps.sh test
	@scripts/fuzz.sh --seconds $(FUZZ_SECONDS) --jobs $(JOBS) $(FUZZ_TARGETS)

# The soak test (tests/soak/soak.mjs): SOAK_SECONDS of mixed churn with a RabbitMQ restart in the middle; the server's
# RSS, fds and threads sampled each second; report and plot in $(BUILD)/artifacts/soak.{json,png}; fails unless flat.
SOAK_SECONDS ?= 600
.PHONY: soak
soak:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory build
	@SOAK_SECONDS=$(SOAK_SECONDS) scripts/soak.sh $(BUILD)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf build build-asan build-tsan
