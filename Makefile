# Two commands do everything on a fresh machine:
#   make serve   set up .venv and run the main job
#   make test    set up .venv and run the tests
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup serve test test-all bench clean

setup: $(STAMP)

# torch is pinned to the CPU wheel explicitly (a bare requirement pulls CUDA packages);
# mjlab is installed without its dependencies: we only need the G1 model files it ships.
$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --no-deps mjlab==1.6.0
	$(PY) -m pip install --quiet -e '.[policy,dds,vision,dev]'
	touch $@

# Until the web service lands, the main job is a headless walk in the twin with a video.
serve: setup
	$(VENV)/bin/humanoid-teleop sim --controller expert --vx 0.2 --seconds 12 --video artifacts/walk.mp4

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q -m ''

bench: setup
	$(PY) benchmarks/twin_speed.py
	$(PY) benchmarks/expert_speed.py
	$(PY) benchmarks/dds_stream.py

clean:
	rm -rf $(VENV) artifacts .pytest_cache
