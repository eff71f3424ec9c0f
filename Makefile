# Developer entry points. `make test` is what CI runs (.ci/run).
VENV ?= .venv
# python3.11 is the target interpreter; fall back to python3 where it is not installed.
PY ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
# -n auto: pytest-xdist across all cores. Override e.g. `make test PYTEST_ARGS='-n0 -x'`.
PYTEST_ARGS ?= -n auto

.PHONY: install system test soak demo bench clean

install: $(VENV)/.installed

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)

# Reinstall only when the dependencies may have changed. The venv is an order-only
# prerequisite: creating it must not make an existing install look stale.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -e '.[dev]'
	touch $@

# Debian prometheus + alertmanager (promtool, amtool) for the monitoring tests; idempotent.
system:
	bash scripts/install-system.sh

test: install system
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

# Fault tests, bigger and longer (docs/reliability.md): 10^5 fuzzed messages through the worker,
# 25 kills of the worker, a 60 s ClickHouse outage.
soak: install system
	SLAWATCH_SOAK=1 $(VENV)/bin/python -m pytest -q -p no:xdist tests/faults

demo: install
	bash scripts/demo.sh

bench: install
	$(VENV)/bin/python bench/replay.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .demo build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
