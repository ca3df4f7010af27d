# Front door: `make demo` and `make test` each create .venv when missing,
# install the project (editable) with what they need, and run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_EXTRAS := dev,jax,ray,pettingzoo,plot,sb3,alpgmm,efficacy
PYTEST_ARGS ?=
# ray[rllib] pins an older Gymnasium: its tests run in a virtualenv of their own, so the
# rest of the suite runs against the newest Gymnasium.
RLLIB_VENV := .venv-rllib
RLLIB_BIN := $(RLLIB_VENV)/bin
RLLIB_TESTS := tests/integrations/test_rllib.py "tests/docs/test_examples.py::test_example_runs[rllib_sequential]"

.PHONY: demo test lint format typecheck docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(TEST_EXTRAS)]"
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(BIN)/syllabus-like demo

$(RLLIB_BIN)/python:
	$(PYTHON) -m venv $(RLLIB_VENV)
	$(RLLIB_BIN)/python -m pip install --quiet --upgrade pip

$(RLLIB_VENV)/.installed: pyproject.toml | $(RLLIB_BIN)/python
	$(RLLIB_BIN)/python -m pip install --quiet -e ".[dev,sb3,rllib]"
	touch $@

# The JAX tests run in processes of their own: XLA's threads next to torch's and Ray's
# in one long process crashed once (a segfault, not reproducible alone), and a fork after
# JAX has started (Ray, a fork start method) may deadlock. The tests that JAX joined from
# other parts (efficacy, docs, README, gymnax, parity) run in a second process: in one
# process with the rest, XLA's compiler segfaulted twice in test_state_validation.py.
JAX_TESTS := tests/jax
JAX_JOINED := $(addprefix tests/jax/,test_auto_curricula_parity.py test_docs.py test_efficacy.py \
	test_gymnax_adapter.py test_readme.py)

test: $(VENV)/.installed-test $(RLLIB_VENV)/.installed
	$(BIN)/python -m pytest --ignore=$(JAX_TESTS) --ignore=tests/integrations/test_rllib.py \
		--deselect "tests/docs/test_examples.py::test_example_runs[rllib_sequential]" $(PYTEST_ARGS)
	$(BIN)/python -m pytest $(JAX_TESTS) $(addprefix --ignore=,$(JAX_JOINED)) $(PYTEST_ARGS); status=$$?; [ $$status -eq 0 ] || [ $$status -eq 5 ]
	$(BIN)/python -m pytest $(JAX_JOINED) $(PYTEST_ARGS); status=$$?; [ $$status -eq 0 ] || [ $$status -eq 5 ]
	$(RLLIB_BIN)/python -m pytest $(RLLIB_TESTS) $(PYTEST_ARGS); status=$$?; [ $$status -eq 0 ] || [ $$status -eq 5 ]

$(VENV)/.installed-lint: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[lint]"
	touch $@

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

lint: $(VENV)/.installed-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-lint
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(VENV)/.installed-lint
	$(BIN)/mypy

docs: $(VENV)/.installed-docs
	$(BIN)/mkdocs build --strict

bench: $(VENV)/.installed-test
	for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(RLLIB_VENV) build site *.egg-info .pytest_cache .hypothesis
