# AME developer entry points. `make demo` and `make test` work on a fresh clone:
# each sets up .venv and node_modules first (only when their inputs changed).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: setup demo test test-fast soak lint typecheck artifacts bench clean web chromium screenshots

setup: $(VENV)/.installed node_modules/.installed

# torch is installed first and pinned: a bare `torch` requirement would pull a CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# The claim page (web/claim): its own package.json and lockfile, built into one offline
# web/claim/dist/index.html (script, style and the contract ABI inlined).
WEB := web/claim
WEB_SOURCES := $(wildcard $(WEB)/src/*) $(WEB)/build.mjs ame_chain/artifacts/AmeSettlement.json

web: $(WEB)/dist/index.html

$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

$(WEB)/dist/index.html: $(WEB)/node_modules/.installed $(WEB_SOURCES)
	cd $(WEB) && node build.mjs

# The browser tests drive Debian's chromium (Playwright's own download cannot work here).
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# The claim page's pictures in docs/img, taken from the browser tests' setup.
screenshots: setup web chromium
	$(PY) -m tests.web.screenshots docs/img

demo: setup
	$(BIN)/ame demo

LINTED := $(wildcard ame_core offchain ame_chain ame tests deploy bench contracts/compile.py)

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: setup
	$(BIN)/mypy

test: lint typecheck web chromium
	$(BIN)/pytest -n 2 -q -m "not soak"

test-fast: setup
	$(BIN)/pytest -n 2 -q -m "not slow and not anvil and not soak"

# Hours-long runs (the 10,000-sequence stateful contract test): not part of `make test`.
soak: setup
	$(BIN)/pytest -n 2 -q -m soak --timeout=0

# Recompile contracts/ and rewrite the committed ABI + bytecode under ame_chain/artifacts.
artifacts: setup
	$(PY) contracts/compile.py --write

# Every script prints a table and a JSON line; some take minutes (bench/gas.py builds 1M-leaf trees).
bench: setup
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) node_modules $(WEB)/node_modules $(WEB)/dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
