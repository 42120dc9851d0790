# OpenDeep: `make run` starts the platform, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SANDBOX := asterisk/sandbox/sandbox.sh

.PHONY: install run test test-fast lint format sandbox sandbox-start sandbox-stop browser bench doctor clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

run: install
	$(PY) main.py migrate
	$(PY) main.py run

doctor: install
	$(PY) main.py doctor

# The full suite: real Redis, real PostgreSQL, the real Asterisk 22 sandbox and Chromium.
test: install sandbox browser lint
	$(PY) -m pytest

# Debian's Chromium for the end-to-end browser tests (Playwright drives it; no download).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

# Without the sandbox build (tests that need it skip outside CI, fail in CI).
test-fast: install
	$(PY) -m pytest -m "not sandbox"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

sandbox:
	bash $(SANDBOX) build

sandbox-start: sandbox
	bash $(SANDBOX) start

sandbox-stop:
	bash $(SANDBOX) stop

bench: install
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
