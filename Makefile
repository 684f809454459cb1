# The two commands of the README: `make run` and `make test`.
# Everything else is a helper for them.

JOBS ?= $(shell nproc)
DB ?= ./data/rapport.db
LISTEN ?= 127.0.0.1:8080

.PHONY: run test deps build build-asan check lint clean bench

run: deps build
	@mkdir -p $(dir $(DB))
	./build/release/rapport serve --db $(DB) --listen $(LISTEN) --demo

test: deps build-asan lint
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

lint:
	./scripts/check-format.sh
	./scripts/check-banned.sh

clean:
	rm -rf build
