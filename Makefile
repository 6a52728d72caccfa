# Two entry points for a fresh machine: `make chat` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
KP := $(VENV)/bin/kp-assistant

.PHONY: setup chat ingest test lint eval clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

ingest: setup
	$(KP) ingest

chat: ingest
	$(KP) serve

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy

eval: setup
	$(KP) eval ../shared/eval/dev/qa.jsonl --corpus ../shared/eval/dev/corpus

clean:
	rm -rf $(VENV) index/chroma index/keyword index/manifest.json index/registry.json \
		index/sentence_vectors.npz index/eval-*
