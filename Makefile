# ccpulse: every target creates and uses the project virtualenv (.venv) by itself.
#   make demo   - embedded broker + worker + simulator, live KPIs on http://127.0.0.1:6066
#   make test   - install everything needed (Python and Debian packages, Apache Kafka from
#                 Maven Central) and run the tests
#   make bench  - benchmarks on Apache Kafka and the embedded broker beside it; writes
#                 docs/performance.md and docs/performance.json
#   make soak   - crash soak: workers SIGKILLed at random while traffic flows, 20 runs (tests/soak.py)
#   make lint   - ruff (lint + format check) and mypy --strict on processors/

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install demo test test-unit test-integration bench soak lint format dashboards clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# processors/ compiled with mypyc (mk/native_build.py); pure Python if that fails or with
# CCPULSE_PURE=1. Rebuilt when a source changes; a failed build is not retried until then.
NATIVE := processors/_native/SOURCES
$(NATIVE): $(wildcard processors/*.py) mk/native_build.py | $(STAMP)
	$(PY) mk/native_build.py

install: $(STAMP) $(NATIVE)

include mk/system.mk
include mk/kafka.mk

demo: install
	$(VENV)/bin/ccpulse demo

# Two pytest-xdist processes (the machine's two cores), whole modules each (--dist loadscope:
# a module's servers start once); each process runs its own brokers.
TEST_PROCESSES ?= 2
test: install system-deps kafka
	$(PY) -m pytest -q -p no:cacheprovider --timeout=600 --durations=20 -n $(TEST_PROCESSES) --dist loadscope

test-unit: install
	$(PY) -m pytest -q -m "not integration"

bench: install kafka
	$(PY) -m bench.run

SOAK_ARGS ?= --runs 20
soak: install
	$(PY) -m tests.soak $(SOAK_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

dashboards: install
	$(VENV)/bin/ccpulse dashboards generate

clean:
	rm -rf $(VENV) processors/_native var test-output .pytest_cache .mypy_cache .ruff_cache .hypothesis
