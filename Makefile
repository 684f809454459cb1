# The two commands of the README: `make run` and `make test`.
# Everything else is a helper for them.

JOBS ?= $(shell nproc)
DB ?= ./data/rapport.db
LISTEN ?= 127.0.0.1:8080

FUZZ_SECONDS ?= 60
# Fuzz targets run in pairs: each is one process, and CI has two cores.
FUZZ_JOBS ?= 2
FUZZ_TARGETS := $(sort $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c))))

.PHONY: run test deps build build-asan build-fuzz web check lint clean bench fuzz fuzz-ci

run: deps build web
	@mkdir -p $(dir $(DB))
	./build/release/rapport serve --db $(DB) --listen $(LISTEN) --demo

test: deps build-asan web lint
	cd build/asan && ctest --output-on-failure -j$(JOBS)
	cmake --preset release -DRP_WERROR=ON >/dev/null
	cmake --build build/release -j$(JOBS)
	cd build/release && ctest --output-on-failure -L unit -j$(JOBS)
	$(MAKE) fuzz-ci

# clang and its libFuzzer runtime are CI dependencies too: `make test` fuzzes (fuzz-ci).
deps:
	@RP_EXTRA_PACKAGES="clang libclang-rt-14-dev" ./scripts/install-deps.sh

build:
	cmake --preset release >/dev/null
	cmake --build build/release -j$(JOBS)

build-asan:
	cmake --preset asan -DRP_WERROR=ON >/dev/null
	cmake --build build/asan -j$(JOBS)

# The web UI (web/, Vue + Vite) is built into web/dist, which `rapport serve` serves at "/".
# npm ci runs only when node_modules is missing or package.json / the lock file changed; the
# build runs only when a source changed.
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.js web/compress.mjs

web: web/dist/index.html

web/node_modules/.rp-installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

web/dist/index.html: web/node_modules/.rp-installed $(WEB_SOURCES)
	cd web && npm run build

lint:
	./scripts/check-format.sh
	./scripts/check-banned.sh

# The libFuzzer targets (clang, ASan + UBSan), and nothing else of the fuzz preset.
build-fuzz: deps
	cmake --preset fuzz >/dev/null
	cmake --build build/fuzz -j$(JOBS) --target $(FUZZ_TARGETS)

# CI (`make test`): every target for FUZZ_SECONDS (60) from its committed corpus, FUZZ_JOBS at a
# time; a crash, leak or timeout fails. New inputs stay in build/fuzz/new/, crashes in
# build/fuzz/artifacts/ (scripts/fuzz-run.sh).
fuzz-ci: build-fuzz
	./scripts/fuzz-run.sh $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

# By hand: the same, one target at a time, with new inputs added to tests/fuzz/corpus/.
fuzz: build-fuzz
	./scripts/fuzz-run.sh --grow $(FUZZ_SECONDS) 1 $(FUZZ_TARGETS)

clean:
	rm -rf build web/dist
