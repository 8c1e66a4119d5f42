# Two entry points, both self-contained on a fresh machine with Python 3.11, git and make:
#   make run   - set up .venv and run every experiment (default profile), then build the site
#   make test  - set up .venv and run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/mlnb run

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check src tests tools

clean:
	rm -rf $(VENV) results build src/*.egg-info
