# The README's two commands: `make demo` (set up, run the pipeline on the bundled sample) and
# `make test` (set up, run the tests). Both work on a fresh clone with only python3 on the PATH.
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml setup.py | cksum | cut -d' ' -f1)

.PHONY: setup demo test browser bench docs clean

setup: $(STAMP)

# torch first, pinned to the CPU wheel: left to the resolver, `torch` would be a multi-GB CUDA build.
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet --editable ".[dev]"
	rm -f $(VENV)/.installed-* && touch $@

demo: setup
	$(BIN)/webtext run
	$(BIN)/webtext models show webtext-sample@champion

test: setup browser
	$(BIN)/python -m pytest

# The UI test drives Debian's Chromium (never a browser a test tool downloads): installed when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || $(SUDO) apt-get install -y -q chromium >/dev/null \
		|| { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null; } \
		|| echo "Chromium could not be installed: the UI test will be skipped"

bench: setup
	$(BIN)/python benchmarks/source_throughput.py

# docs/config.md is generated from the typed config schema; a test fails when it is out of date.
docs: setup
	$(BIN)/webtext config --markdown > docs/config.md

clean:
	rm -rf .webtext
