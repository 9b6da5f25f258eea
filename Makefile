# Two commands do everything on a fresh machine:
#   make run    set up, build the index over seeds/ if missing or stale, open the chat at http://127.0.0.1:7860
#   make test   set up (packages + Debian chromium for browser tests) and run the test suite
# And one for every change:
#   make check  lint (ruff), format check, types (mypy) and the fast tests, in about a minute
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup run test check lint fast chromium index eval-seed eval-squad clean screenshots

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU build of torch first (this machine keeps it on disk); a bare `torch` would fetch a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[export,chat,eval,bench,train,test,dev,cluster]'
	# The ONNX model (the default encoder) is exported and verified once here, so the first question does not pay for it.
	$(PY) -m qa export || echo "ONNX export failed (see above): run with QA_BACKEND=torch, e.g. QA_BACKEND=torch make run"
	touch $(STAMP)

run: setup
	$(PY) app.py

chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

test: setup chromium
	$(PY) -m pytest

check: lint fast

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# The fast tier: everything but index builds over many files, subprocess runs, evaluations and the browser.
fast: setup
	$(PY) -m pytest -q -m "not slow and not browser and not quality"

# The README's screenshots (docs/screenshot-*.png), taken in Debian chromium over the seed releases.
screenshots: setup chromium
	$(PY) docs/make_screenshots.py

index: setup
	$(PY) -m qa index

eval-seed: setup
	$(PY) -m qa eval gold eval/seed_qa.jsonl --split test --out eval/results/seed

# SQUAD=path/to/squad-dev-v1.1-part-a.json (SQuAD v1.1 dev, part A)
eval-squad: setup
	$(PY) -m qa eval squad $(SQUAD) --out eval/results/squad

clean:
	rm -rf $(VENV) .cache
	find embeddings -mindepth 1 ! -name .gitkeep ! -name README.md -exec rm -rf {} +
