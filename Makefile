# The two commands a new user needs: `make run` and `make test`. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp

export VENV PYTHON

.PHONY: help setup onnx lock run test test-trained lint format bench loadtest chaos cluster-test screenshots clean

help:
	@echo "make setup        virtualenv, Python and Debian dependencies (idempotent)"
	@echo "make onnx         ONNX graphs of the models in models/ for the CPU runtime (make setup runs it)"
	@echo "make lock         requirements.lock from pyproject.toml (UPGRADE=\"pkg ...\" or UPGRADE=1 moves pins)"
	@echo "make run          migrate, start Redis if needed, run API + worker on http://127.0.0.1:8000"
	@echo "make test         start Redis/PostgreSQL if needed and run the tests"
	@echo "make test-trained the tests that need trained weights (text read correctly)"
	@echo "make lint         ruff check + ruff format --check"
	@echo "make bench        accuracy/speed benchmark (python -m bench)"
	@echo "make loadtest     200 jobs by 20 clients against its own API + 2 workers"
	@echo "make chaos        the load test while workers, Redis and PostgreSQL are killed (own servers)"
	@echo "make cluster-test the platform across hosts (network namespaces), a worker host killed mid-run"
	@echo "make screenshots  screenshots of the web pages into docs/screenshots/"
	@echo "make clean        remove caches and var/ (jobs, keys, local servers' files)"

# Re-run only when the dependencies (pyproject.toml, requirements.lock) or the setup scripts change.
$(STAMP): pyproject.toml requirements.lock scripts/setup.sh scripts/install_system_deps.sh
	scripts/setup.sh
	@touch $@

# The ONNX graphs are exported from the weights in models/ into var/model-cache, named by their hash
# (pipeline/onnx_models.py): every setup checks them, since training replaces the weights without
# touching the stamp's prerequisites. Up to date, that is a hash of each file; not fatal, as
# `ocr run` and the workers export a missing graph on first use.
setup: $(STAMP)
	-@$(PY) -m pipeline.export_onnx

onnx: $(STAMP)
	$(PY) -m pipeline.export_onnx

# requirements.lock from pyproject.toml, keeping the pins it has; UPGRADE="pkg ..." (or UPGRADE=1,
# everything) lets those move to the newest releases. Then `make test`.
lock:
	$(PYTHON) scripts/lock.py

run: setup
	scripts/run.sh

test: setup
	scripts/test.sh

test-trained: setup
	TEST_MARKERS=trained scripts/test.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(PY) -m bench

loadtest: setup
	scripts/loadtest.sh

chaos: setup
	scripts/chaos.sh

# Hosts are network namespaces on a private bridge (root needed; else loopback addresses).
cluster-test: setup
	scripts/cluster_test.sh

# The web pages' screenshots; the module is provided with the web pages (issue 5).
screenshots: setup
	$(PY) -m web.screenshots

clean:
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	@# Stop servers a previous run left behind before their files go.
	-@source scripts/lib/services.sh && stop_redis var/redis && stop_redis var/test-redis && stop_postgres var/pg
	rm -rf var
