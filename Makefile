# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
OUT    ?= out/demo

.PHONY: demo test bench clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamps re-install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/twin run assets/halls/reference.toml --duration 10min --out $(OUT)

test: $(VENV)/.installed-test
	$(PY) -m pytest -q

# The bench compares the power-chain solve with pandapower, which comes with the test extra.
bench: $(VENV)/.installed-test
	$(VENV)/bin/twin bench assets/halls/reference.toml --duration 10min --json
	$(VENV)/bin/twin bench assets/halls/large.toml --duration 10min --json

clean:
	rm -rf $(VENV) out .pytest_cache
