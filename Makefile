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
$(STAMP): pyproject.toml Makefile client-web/package.json
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --no-deps mjlab==1.6.0
	$(PY) -m pip install --quiet -e '.[policy,dds,vision,server,vlm,manip,dev]'
	npm ci --prefix client-web --no-audit --no-fund --silent
	touch $@

# The main job: the web service on embedded defaults (simulated G1, shipped policy,
# embedded intent estimators). It prints the URL to open.
serve: setup
	$(VENV)/bin/humanoid-teleop serve

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
