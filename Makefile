# The two commands of the README: `make run` serves, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# aws-sam-translator pins another pydantic than the gateway: it lives in a venv of its own,
# made for the tests only (tests/aws translate template.yaml with it).
SAM_VENV := $(VENV)/sam
SAM_STAMP := $(SAM_VENV)/.installed
STAGE ?= dev

.PHONY: install lock run test lint typecheck unit browser bench deploy clean ext-install ext-test

install: $(STAMP)

# Every package comes from a hashed lock (requirements.lock: runtime, `local` and `dev`), so a
# release replaced on the registry fails the install instead of running. The project itself
# goes in last, without its dependencies and built by the locked hatchling (no isolated build
# that would fetch an unhashed backend). The function modules are copied into the venv
# (force-include), where they shadow the sources: a change to one reinstalls.
$(STAMP): pyproject.toml requirements.lock $(wildcard functions/*/*_function.py)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(SAM_STAMP): infra/sam-translator.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --require-hashes -r infra/sam-translator.txt
	touch $(SAM_STAMP)

# The one command that writes the three hashed lock files from their pins (pyproject.toml,
# infra/sam-translator.in): universal (every platform and Python >= 3.11, with markers) and
# with the hash of every file of each release. Run it after changing a pin, then `make install`.
# The layer's lock takes the dev lock's versions, so the tests run what Lambda ships.
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock'
lock: install
	$(UV_COMPILE) --extra dev --extra local pyproject.toml -o requirements.lock
	$(UV_COMPILE) --constraint requirements.lock pyproject.toml -o layers/common/requirements.txt
	$(UV_COMPILE) infra/sam-translator.in -o infra/sam-translator.txt

run: install
	$(BIN)/llm-agg serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/cfn-lint template.yaml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/deploy.yml
	$(BIN)/shellcheck functions/run.sh

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit tests/functional

# The web page's end-to-end tests drive Debian's chromium through Playwright (which cannot
# download a browser of its own here). Installed once, as root, as CI runs.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "The browser tests need $(CHROMIUM): sudo apt-get install chromium" >&2; exit 1; \
	  fi; }

test: lint typecheck browser ext-test $(SAM_STAMP)
	$(BIN)/pytest

# The VS Code extension (TypeScript): installed from its lock file only when that changes;
# --ignore-scripts because nothing it needs builds at install time (esbuild ships its binary
# as a package) and optional native modules of vsce must not try to download prebuilt ones.
EXT := vscode-extension
EXT_STAMP := $(EXT)/node_modules/.installed

ext-install: $(EXT_STAMP)

$(EXT_STAMP): $(EXT)/package.json $(EXT)/package-lock.json
	cd $(EXT) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(EXT_STAMP)

# Type-check, lint, test (the agent-server integration test uses .venv's llm-agg), bundle and
# package the .vsix (vscode-extension/openhands-llm-agg.vsix).
ext-test: ext-install install
	cd $(EXT) && LLM_AGG_VENV=$(abspath $(VENV)) npm run --silent check

# By hand only, never from `make test`: it loads both CPUs for minutes. See bench/README.md.
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Build and deploy the stack of STAGE (dev|prod) with infra/samconfig.toml; needs the AWS SAM
# CLI and credentials. The first deploy of a stage needs LLM_AGG_ADMIN_KEY in the environment.
deploy:
	$(PYTHON) infra/deploy.py $(STAGE)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(EXT)/node_modules $(EXT)/out $(EXT)/*.vsix
