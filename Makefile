# Every target bootstraps what it needs: `make test` and `make demo` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools/venv
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: test lint typecheck template-check pytest demo local-stack gateway chaos bench clean

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
	$(VENV)/bin/ruff check src tests local bench ops
	$(VENV)/bin/ruff format --check src tests local bench ops

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

template-check: $(VENV)/.installed $(TOOLS)/.installed
	$(VENV)/bin/cfn-lint template.yaml
	$(TOOLS)/bin/sam validate --region us-east-1 --template-file template.yaml
	$(TOOLS)/bin/checkov --skip-download --quiet --compact --framework cloudformation -f template.yaml

pytest: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck template-check pytest

demo: $(VENV)/.installed
	$(PY) -m local.demo $(DEMO_ARGS)

local-stack: $(VENV)/.installed
	$(PY) -m local.stack $(STACK_ARGS)

gateway: $(VENV)/.installed
	$(PY) -m local.alipay_gateway $(GATEWAY_ARGS)

chaos: $(VENV)/.installed
	$(PY) -m local.chaos $(CHAOS_ARGS)

bench: $(VENV)/.installed
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache .aws-sam
