# Every target bootstraps what it needs: `make test` and `make demo` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools/venv
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: test lint typecheck template-check pytest pytest-lambda-runtime build demo local-stack invoke gateway chaos bench mutation clean

# The Lambda runs Python 3.13: the package's tests also run under it when it is installed (pyenv).
PY313 ?= $(shell for p in $(HOME)/.pyenv/versions/3.13*/bin/python3.13 $$(command -v python3.13); do \
  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && echo "$$p" && break; done)
VENV313 := .venv313

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# SAM CLI and checkov pin their own dependency sets: they live in a venv of their own.
$(TOOLS)/.installed: .tools-requirements.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet -r .tools-requirements.txt
	touch $@

venv: $(VENV)/.installed

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests local bench mutation
	$(VENV)/bin/ruff format --check src tests local bench mutation

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

template-check: $(VENV)/.installed $(TOOLS)/.installed
	$(VENV)/bin/cfn-lint template.yaml
	$(TOOLS)/bin/sam validate --region us-east-1 --template-file template.yaml
	$(TOOLS)/bin/checkov --skip-download --quiet --compact --framework cloudformation -f template.yaml

pytest: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

$(VENV313)/.installed: pyproject.toml
	$(PY313) -m venv $(VENV313)
	$(VENV313)/bin/pip install --quiet --upgrade pip
	$(VENV313)/bin/pip install --quiet -e '.[dev]'
	touch $@

# The package under the Lambda runtime's Python (also the awslambdaric environments of
# tests/test_lambda_runtime.py); the local-pipeline runs (demo, chaos, bench, the AWS stand-in) are
# Python-version-neutral tooling and run once, under .venv.
pytest-lambda-runtime:
	@if [ -z "$(PY313)" ]; then echo "python3.13 not found: skipping the Lambda-runtime test run"; \
	else $(MAKE) --no-print-directory $(VENV313)/.installed && \
	$(VENV313)/bin/python -m pytest -q -p no:cacheprovider --ignore=tests/test_chaos_ci.py \
	  --ignore=tests/test_local_pipeline.py --ignore=tests/test_bench_smoke.py \
	  --ignore=tests/test_demo.py --ignore=tests/test_local_stack_cli.py --ignore=tests/test_examples.py \
	  --ignore=tests/test_runtime_duplicates.py --ignore=tests/test_moto_atomic.py $(PYTEST_ARGS); fi

test: lint typecheck template-check pytest pytest-lambda-runtime

# The deployment artifact, as `sam deploy` wants it in .aws-sam/build: SAM CLI from .tools/venv, and
# src/Makefile run with the Lambda runtime's Python (byte-code is per Python version). No Docker.
# BUILD_ARGS go to `sam build` (e.g. --build-dir); WITH_DEPENDENCIES=no and ARCHITECTURE= go to src/Makefile.
build: $(TOOLS)/.installed
	@if [ -z "$(PY313)" ]; then \
	  echo "make build: python3.13 not found (the Lambda runtime is Python 3.13 and byte-code is per version):" \
	       "install it (e.g. pyenv install 3.13) or give PY313=/path/to/python3.13" >&2; exit 2; fi
	PATH="$(dir $(PY313)):$$PATH" PYTHON="$(PY313)" $(TOOLS)/bin/sam build $(BUILD_ARGS)

demo: $(VENV)/.installed
	$(PY) -m local.demo $(DEMO_ARGS)

# STACK_ARGS: --moto-port, --gateway-port (a second stack beside the first), --aes, --cert-mode, ...
local-stack: $(VENV)/.installed
	$(PY) -m local.stack $(STACK_ARGS)

# One event through the function in an awslambdaric process (no Docker): make invoke EVENT=events/x.json
EVENT ?= events/cancel-by-out-trade-no.json
invoke: $(VENV)/.installed
	$(PY) -m local.invoke $(EVENT) $(INVOKE_ARGS)

gateway: $(VENV)/.installed
	$(PY) -m local.alipay_gateway $(GATEWAY_ARGS)

chaos: $(VENV)/.installed
	$(PY) -m local.chaos $(CHAOS_ARGS)

# The cold start is measured on the Lambda runtime's Python 3.13 too, when it is installed.
bench: $(VENV)/.installed
	@if [ -n "$(PY313)" ]; then $(MAKE) --no-print-directory $(VENV313)/.installed; fi
	$(PY) -m bench.run $(if $(PY313),--cold-python $(VENV313)/bin/python) $(BENCH_ARGS)

# Mutation testing of the decision core (docs/mutation-testing.md): long, low priority, not in `make test`.
# One module: make mutation MUTATION_ARGS="--module classification.py"
$(VENV)/.mutation-installed: $(VENV)/.installed pyproject.toml
	$(VENV)/bin/pip install --quiet -e '.[dev,mutation]'
	touch $@

mutation: $(VENV)/.mutation-installed
	nice -n 10 $(PY) -m mutation $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) $(VENV313) .tools .pytest_cache .mypy_cache .ruff_cache .aws-sam .mutation
