# Two entry points: `make run` (the tiny recipe end to end) and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
RECIPE ?= recipes/tiny.yaml

.PHONY: install run test clean

$(BIN)/codesift: pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) (Python 3.11)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/codesift

run: install
	$(BIN)/codesift run $(RECIPE)

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
