# Developer entry points. `make test` is what CI runs (.ci/run).
VENV ?= .venv
# python3.11 is the target interpreter; fall back to python3 where it is not installed.
PY ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
# -n auto: pytest-xdist across all cores. Override e.g. `make test PYTEST_ARGS='-n0 -x'`.
PYTEST_ARGS ?= -n auto

.PHONY: install system test soak demo bench clean

install: $(VENV)/.installed $(VENV)/.core-built

# The SLA core's hot modules compiled with Cython (streams/core/build.py): rebuilt when their
# source or declarations change. Without a C compiler or Python headers the build says so and
# the pure-Python modules run (slower, same results): the stamp is then left unmade, so the
# next `make install` tries again.
$(VENV)/.core-built: $(VENV)/.installed $(wildcard streams/core/*.py streams/core/*.pxd)
	$(VENV)/bin/python -m streams.core.build --stamp $@

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)

# Reinstall only when the dependencies may have changed. The venv is an order-only
# prerequisite: creating it must not make an existing install look stale.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -e '.[dev]'
	touch $@

# Debian prometheus + alertmanager (promtool, amtool) for the monitoring tests, and a C compiler
# with Python headers for the compiled core; idempotent.
system:
	bash scripts/install-system.sh

# `system` first: it brings the C compiler that `install` compiles the core with. The second run
# holds the pure-Python core (the reference) to the same core and replay tests.
test: system install
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)
	SLAWATCH_PURE_PYTHON=1 $(VENV)/bin/python -m pytest -q $(PYTEST_ARGS) tests/core tests/replay

# Fault tests, bigger and longer (docs/reliability.md): 10^5 fuzzed messages through the worker,
# 25 kills of the worker, a 60 s ClickHouse outage.
soak: system install
	SLAWATCH_SOAK=1 $(VENV)/bin/python -m pytest -q -p no:xdist tests/faults

demo: install
	bash scripts/demo.sh

bench: install
	$(VENV)/bin/python bench/replay.py

clean:
	-$(VENV)/bin/python -m streams.core.build --clean
	rm -rf $(VENV) .pytest_cache .hypothesis .demo build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
