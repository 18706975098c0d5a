# Every target creates .venv and installs what it needs, so each works on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
PURE   := .venv-pure
SOURCES := $(shell find src -name '*.py') setup.py

.PHONY: demo test test-pure lint bench bench-as bench-guard bench-scan venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Editable install; setup.py compiles the hot path with mypyc next to its sources, so any source
# change reinstalls (tests/conftest.py refuses to run against a stale extension).
$(STAMP): pyproject.toml $(SOURCES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/proofbound demo

test: $(STAMP)
	$(BIN)/python -m pytest

# The same suite against the pure-Python build (no extensions), installed in its own venv.
test-pure:
	test -x $(PURE)/bin/python || $(PYTHON) -m venv $(PURE)
	PROOFBOUND_PURE_PYTHON=1 $(PURE)/bin/python -m pip install --quiet --upgrade pip '.[dev]'
	PROOFBOUND_EXPECT_BUILD=pure $(PURE)/bin/python -m pytest -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-as: $(STAMP)
	$(BIN)/python -m bench.as_tokens

bench-guard: $(STAMP)
	$(BIN)/python -m bench.guard

bench-scan: $(STAMP)
	$(BIN)/python -m bench.scan

clean:
	rm -rf $(VENV) $(PURE) build .pytest_cache .mypy_cache .ruff_cache
	find src -name '*.so' -delete
