# The two commands of the README's Quick start: `make run` and `make test`.
BUILD      ?= build
JOBS       ?= $(shell nproc)
BUILD_TYPE ?= Release
CMAKE_ARGS ?=

.PHONY: all deps build run test test-asan test-reference bench clean

all: build

deps:
	@scripts/setup.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# The main job on the most complete real path that exists.
run: build
	@scripts/run-main.sh $(BUILD)/whalebox

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) --timeout 600

# The whole suite under AddressSanitizer + UBSan.
test-asan:
	$(MAKE) test BUILD=build-asan BUILD_TYPE=RelWithDebInfo CMAKE_ARGS=-DWHALEBOX_SANITIZE=address,undefined

# The PyTorch reference has its own tests (needs python3-torch; not part of `make test`).
test-reference:
	@scripts/setup.sh --reference
	cd model/reference && /usr/bin/python3 -m unittest discover -s tests -v

bench: build
	$(BUILD)/whalebox bench --list

clean:
	rm -rf $(BUILD) build-asan
