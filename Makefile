# OpenDeep: `make run` starts the platform, `make test` runs the whole suite, `make demo`
# starts it with scripted agents and a simulated phone line (no key, no Asterisk needed).
#
# Every Python package comes from uv.lock (transitive ones included, with hashes). uv itself
# is the one tool installed outside the lock, from tools/uv-requirements.txt (hash-pinned),
# into .tools/. It uses this machine's Python and never downloads an interpreter.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_STAMP := $(TOOLS)/.installed
SANDBOX := asterisk/sandbox/sandbox.sh
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
UV_SYNC := $(UV) sync --frozen --python $(PYTHON)

.PHONY: install install-run lock lock-check deps-check run test test-fast lint typecheck \
	format sandbox sandbox-start sandbox-stop browser bench doctor demo clean

$(UV_STAMP): tools/uv-requirements.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check \
		--require-hashes --only-binary :all: -r tools/uv-requirements.txt
	touch $@

# The runtime set only: what `make run` needs (no test tools).
install-run: $(UV_STAMP)
	$(UV_SYNC) --no-dev

# The runtime set plus the `dev` group (tests, lint, type checker).
install: $(UV_STAMP)
	$(UV_SYNC)

# Re-resolve uv.lock from pyproject.toml (keeps versions that still fit; --upgrade moves them).
lock: $(UV_STAMP)
	$(UV) lock --python $(PYTHON)

# Fails when pyproject.toml and uv.lock disagree (CI runs it through `make lint`).
lock-check: $(UV_STAMP)
	$(UV) lock --check --python $(PYTHON)

# Outside CI: the newest versions the constraints allow, in a scratch environment, with the
# fast suite run there. Prints what moved; the lock is not touched.
deps-check: $(UV_STAMP)
	$(PYTHON) tools/deps_check.py --uv $(UV) --python $(PYTHON)

run: install-run
	$(PY) main.py migrate
	$(PY) main.py run

# The demo: its own data in .demo/ (SQLite), a scripted assistant and call agent, the
# Asterisk sandbox where it can run (root) else a simulated telephone line, and demo
# callees; nothing of it runs in `make run`. `python main.py demo --line sandbox|simulated`
# forces a line.
demo: install-run
	$(PY) main.py demo

doctor: install-run
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

lint: install lock-check typecheck
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

sandbox:
	bash $(SANDBOX) build

sandbox-start: sandbox
	bash $(SANDBOX) start

sandbox-stop:
	bash $(SANDBOX) stop

bench: $(UV_STAMP)
	$(UV_SYNC) --group bench
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .mypy_cache
