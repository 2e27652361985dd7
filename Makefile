# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
OUT    ?= out/demo

.PHONY: demo test bench clean sysdeps up validation walkthrough

# System libraries: Mesa's EGL and OSMesa for off-screen renders (no X server), tmux for driving the
# console like a person would, openssl for the throwaway certificates of the metrics endpoint's mutual-TLS
# test. Installed with apt-get when missing (CI machines start without them). Node.js and npm (for the
# Khronos glTF validator the GLB tests run) are checked by command, not by package: machines with
# NodeSource's nodejs (which bundles npm) refuse Debian's npm package as a conflict.
SYSPKGS := libegl1 libgl1-mesa-dri libosmesa6 tmux openssl
$(VENV)/.sysdeps: | $(VENV)/bin/activate
	@missing="$$(for p in $(SYSPKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if ! command -v npm >/dev/null; then \
	  echo "installing system packages: nodejs npm"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; \
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

# The Khronos glTF validator (npm package gltf-validator, pinned by its package-lock.json).
GLTF_VALIDATOR := tools/gltf-validator
$(GLTF_VALIDATOR)/node_modules/.installed: $(GLTF_VALIDATOR)/package.json $(GLTF_VALIDATOR)/package-lock.json $(VENV)/.sysdeps
	npm ci --prefix $(GLTF_VALIDATOR) --no-audit --no-fund --loglevel=error
	touch $@

# Bytecode of the repo's own modules, written before the commands that are timed or run often. An editable
# install writes none, and where PYTHONDONTWRITEBYTECODE is set (as on the development machine) Python never
# caches it either, so every command compiled twin/ from source again: about 0.2 s of CPU per command
# (open-row-fine's `twin run --steady --airflow momentum`: 5.5-5.9 against 5.8-6.2 s). compileall rewrites only
# what changed since (by timestamp); a file edited later is recompiled in memory as before, never run stale.
BYTECODE := $(PY) -m compileall -q twin viewer tui validation

demo: $(VENV)/.installed $(VENV)/.sysdeps
	@$(BYTECODE)
	$(VENV)/bin/twin run assets/halls/reference.toml --duration 10min --out $(OUT)
	$(VENV)/bin/twin render $(OUT) --out $(OUT)/overview.png

# pytest runs twice: the suite on two xdist workers (tests sharing an expensive fixture kept on one worker
# by tests/conftest.py), then, alone, the few tests marked serial that time themselves against the wall
# clock (solver pace, STALE within three heartbeats), which a second worker on the other core would skew.
# --durations=25: the slowest tests in the log, to see where the time goes. `pytest` alone still runs
# everything in one process. TEST_WORKERS sets the first pass's workers. A third worker on two cores fills
# the waits on sockets and child processes of a loaded machine (231-235 s against 244-283 s there), but on
# the quiet machine the first pass took 239 and 245 s with three against 245 s with two: no gain, and more
# contention for the tests that time a server against the wall clock, so two stays the default.
# The first pass lists the files that hold serial tests (--serial-files, tests/conftest.py) and the second
# collects only those (@FILE: pytest reads its arguments from it), not the whole suite again (~5 s).
TEST_WORKERS ?= 2
SERIAL_FILES := .pytest_cache/serial-files
test: $(VENV)/.installed-test $(VENV)/.sysdeps $(GLTF_VALIDATOR)/node_modules/.installed
	$(VENV)/bin/ruff check twin viewer tui tests validation
	$(VENV)/bin/mypy twin
	@mkdir -p $(dir $(SERIAL_FILES)) && rm -f $(SERIAL_FILES)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=25 -m "not serial" --serial-files=$(SERIAL_FILES)
	$(PY) -m pytest -q --durations=25 -m serial @$(SERIAL_FILES)

# The bench compares the power-chain solve with pandapower, which comes with the test extra.
bench: $(VENV)/.installed-test
	@$(BYTECODE)
	$(VENV)/bin/twin bench assets/halls/reference.toml --duration 10min --json
	$(VENV)/bin/twin bench assets/halls/large.toml --duration 10min --json
	$(VENV)/bin/twin bench assets/halls/reference.toml --bus --json
	$(PY) -m viewer.bench assets/halls/reference.toml

$(VENV)/.installed-video: pyproject.toml | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -e '.[video]'
	touch $@ $(VENV)/.installed

# The guided walk through the bundled reference hall's steady state: out/walk/walkthrough.mp4 (1920x1080,
# 30 frames/s) and its still, walkthrough.png. Every aisle, at a brisk 2.5 m/s (about 3,200 frames, under
# two minutes of video; at the live window's 1.2 m/s it would be 5,500): every frame is rendered in
# software (Mesa llvmpipe) on shared cores, so the pace sets how long this takes.
walkthrough: $(VENV)/.installed-video $(VENV)/.sysdeps
	$(VENV)/bin/twin render assets/halls/reference.toml --walkthrough --pace 2.5 --out out/walk

$(VENV)/.installed-validation: pyproject.toml | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -e '.[validation]'
	touch $@ $(VENV)/.installed

# The benchmark ladder (Ghia, de Vahl Davis, IEA Annex 20) → docs/validation.md and docs/validation/*.png.
# Minutes of one core; not part of `make test` (its coarse-grid regression tests are).
validation: $(VENV)/.installed-validation
	@$(BYTECODE)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(PY) validation/run.py

# The live twin with the operator console in this terminal (and the 3D viewer where a display exists).
up: $(VENV)/.installed $(VENV)/.sysdeps
	@$(BYTECODE)
	$(VENV)/bin/twin up assets/halls/reference.toml --speed 10

clean:
	rm -rf $(VENV) out .pytest_cache
