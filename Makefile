# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
OUT    ?= out/demo

.PHONY: demo test bench clean sysdeps up validation

# System libraries: Mesa's EGL and OSMesa for off-screen renders (no X server), tmux for driving the
# console like a person would. Installed with apt-get when missing (CI machines start without them).
SYSPKGS := libegl1 libgl1-mesa-dri libosmesa6 tmux
$(VENV)/.sysdeps: | $(VENV)/bin/activate
	@missing="$$(for p in $(SYSPKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	touch $@
sysdeps: $(VENV)/.sysdeps

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

demo: $(VENV)/.installed $(VENV)/.sysdeps
	$(VENV)/bin/twin run assets/halls/reference.toml --duration 10min --out $(OUT)
	$(VENV)/bin/twin render $(OUT) --out $(OUT)/overview.png

test: $(VENV)/.installed-test $(VENV)/.sysdeps
	$(VENV)/bin/ruff check twin viewer tui tests validation
	$(VENV)/bin/mypy twin
	$(PY) -m pytest -q

# The bench compares the power-chain solve with pandapower, which comes with the test extra.
bench: $(VENV)/.installed-test
	$(VENV)/bin/twin bench assets/halls/reference.toml --duration 10min --json
	$(VENV)/bin/twin bench assets/halls/large.toml --duration 10min --json
	$(VENV)/bin/twin bench assets/halls/reference.toml --bus --json
	$(PY) -m viewer.bench assets/halls/reference.toml

$(VENV)/.installed-validation: pyproject.toml | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -e '.[validation]'
	touch $@ $(VENV)/.installed

# The benchmark ladder (Ghia, de Vahl Davis, IEA Annex 20) → docs/validation.md and docs/validation/*.png.
# Minutes of one core; not part of `make test` (its coarse-grid regression tests are).
validation: $(VENV)/.installed-validation
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(PY) validation/run.py

# The live twin with the operator console in this terminal (and the 3D viewer where a display exists).
up: $(VENV)/.installed $(VENV)/.sysdeps
	$(VENV)/bin/twin up assets/halls/reference.toml --speed 10

clean:
	rm -rf $(VENV) out .pytest_cache
