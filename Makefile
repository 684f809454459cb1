# The two commands of the README: `make run` and `make test`.
# Everything else is a helper for them.

JOBS ?= $(shell nproc)
DB ?= ./data/rapport.db
LISTEN ?= 127.0.0.1:8080

FUZZ_SECONDS ?= 60

.PHONY: run test deps build build-asan web check lint clean bench fuzz

run: deps build web
	@mkdir -p $(dir $(DB))
	./build/release/rapport serve --db $(DB) --listen $(LISTEN) --demo

test: deps build-asan web lint
	cd build/asan && ctest --output-on-failure -j$(JOBS)
	cmake --preset release -DRP_WERROR=ON >/dev/null
	cmake --build build/release -j$(JOBS)
	cd build/release && ctest --output-on-failure -L unit -j$(JOBS)

deps:
	@./scripts/install-deps.sh

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

# Runs every libFuzzer target for FUZZ_SECONDS each; new inputs grow tests/fuzz/corpus/.
fuzz:
	@RP_EXTRA_PACKAGES="clang libclang-rt-14-dev" ./scripts/install-deps.sh
	cmake --preset fuzz >/dev/null
	cmake --build build/fuzz -j$(JOBS)
	@for t in build/fuzz/tests/fuzz_*; do \
		c=tests/fuzz/corpus/$$(basename $$t | sed 's/^fuzz_//'); \
		echo "== $$t ($(FUZZ_SECONDS) s)"; \
		$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 $$c || exit 1; \
	done

clean:
	rm -rf build web/dist
