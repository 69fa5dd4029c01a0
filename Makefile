# The two commands of the README: `make demo` and `make test`. Both set up .venv themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The real MLflow, in its own environment, loads our bundles in the compatibility test.
MLFLOW_VENV := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed
# MLServer (KServe's runtime for MLflow models) serves a KServe bundle in tests/test_kserve.py.
MLSERVER_VENV := .venv-mlserver
MLSERVER_STAMP := $(MLSERVER_VENV)/.installed
# PyTorch, in its own environment (`make test-torch`): the CPU wheel, pinned exactly (an
# unpinned `torch` from the package index pulls gigabytes of CUDA libraries).
TORCH_VENV := .venv-torch
TORCH_STAMP := $(TORCH_VENV)/.installed
TORCH_PIN := torch==2.13.0

.PHONY: demo test test-torch lint bench clean lab labextension ts-test

# The JupyterLab sidebar (labextension/, TypeScript): `pip install -e .` builds it once into
# jupyter_mlops/labextension/ and installs a copy; this target rebuilds and reinstalls it
# whenever its sources change.
LABEXT := jupyter_mlops/labextension/package.json
LABEXT_SRC := labextension/package.json labextension/yarn.lock labextension/tsconfig.json \
	$(shell find labextension/src labextension/style -type f -not -path '*/__tests__/*')

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(MLFLOW_STAMP):
	python3 -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MLFLOW_VENV)/bin/python -m pip install --quiet "mlflow==3.17.2" skops "lightgbm>=4" "xgboost>=2" "catboost>=1.2"
	touch $@

$(MLSERVER_STAMP):
	python3 -m venv $(MLSERVER_VENV)
	$(MLSERVER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MLSERVER_VENV)/bin/python -m pip install --quiet "mlserver==1.7.1" \
	    "mlserver-mlflow==1.7.1" "mlflow==3.17.2" skops "lightgbm>=4"
	touch $@

$(TORCH_STAMP): pyproject.toml
	python3 -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TORCH_VENV)/bin/python -m pip install --quiet -e ".[test,torch]" "$(TORCH_PIN)"
	touch $@

## demo: execute the notebooks headless, show what was recorded and where, export a bundle
demo: $(STAMP)
	$(PY) notebooks/run.py notebooks/quickstart.ipynb notebooks/promote_and_deploy.ipynb \
	    notebooks/drift_and_performance.ipynb notebooks/continuous_training.ipynb \
	    notebooks/gradient_boosting.ipynb
	$(VENV)/bin/jupyter-mlops runs -e quickstart
	$(VENV)/bin/jupyter-mlops models
	$(VENV)/bin/jupyter-mlops doctor
	$(VENV)/bin/jupyter-mlops export wine@production bundles/wine --overwrite

## test: lint, then every test (real shell, real kernels, real SQLite files, the sidebar's
## TypeScript unit tests and its UI test in a real JupyterLab and Chromium)
test: $(STAMP) $(MLFLOW_STAMP) $(MLSERVER_STAMP) $(LABEXT) lint ts-test
	JUPYTER_MLOPS_MLFLOW_PYTHON=$(CURDIR)/$(MLFLOW_VENV)/bin/python \
	    JUPYTER_MLOPS_MLSERVER_PYTHON=$(CURDIR)/$(MLSERVER_VENV)/bin/python $(PY) -m pytest

## test-torch: the PyTorch tests (marker `torch`) and notebooks/pytorch.ipynb, in .venv-torch;
## (fresh-venv verification installs the requirements.txt pin, the same CPU wheel)
test-torch: $(TORCH_STAMP)
	$(TORCH_VENV)/bin/python -m pytest -m torch tests
	$(TORCH_VENV)/bin/python notebooks/run.py notebooks/pytorch.ipynb

## lab: JupyterLab on notebooks/ with the MLOps sidebar (left bar, "MLOps")
lab: $(STAMP) $(LABEXT)
	$(VENV)/bin/jupyter lab notebooks

labextension: $(LABEXT)

$(LABEXT): $(LABEXT_SRC) | $(STAMP)
	rm -rf jupyter_mlops/labextension
	$(PY) -m pip install --quiet --no-deps -e .

## ts-test: the sidebar's unit tests (Vitest: model, formatting, charts, components)
ts-test: | $(STAMP)
	cd labextension && PATH=$(CURDIR)/$(VENV)/bin:$$PATH jlpm install && \
	    PATH=$(CURDIR)/$(VENV)/bin:$$PATH jlpm test

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy jupyter_mlops

## bench: the benchmarks against MLflow (installs mlflow into .venv-bench)
bench:
	python3 -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet --upgrade pip
	.venv-bench/bin/python -m pip install --quiet -e ".[bench]"
	.venv-bench/bin/python benchmarks/bench_track.py

clean:
	rm -rf $(VENV) $(MLFLOW_VENV) $(MLSERVER_VENV) $(TORCH_VENV) .venv-bench .mlops notebooks/*.executed.ipynb
