# Parallax: `make demo` and `make test` each set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test browser bench lint serve stop clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.lock
	# embed.backend openvino; without its torchvision (a CUDA build here): see requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps optimum-intel==2.2.0
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/parallax run --input data/sample/articles --tm data/sample/tm.tsv
	@echo "Report: outputs/latest/report.html (open it in a browser); its tables: report.xlsx"
	@echo "Outputs: outputs/latest/ (stories, sentences, alignments, statements, coverage, unique, articles, rejects .csv; run.json)"

# The browser test needs Debian's chromium and chromium-driver; install them where we may.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null \
	  || echo "chromium could not be installed: the browser test will be skipped"; }

test: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# make serve [PORT=4200] [PREFECT_HOME=.prefect] [CONFIG=config/scheduled.yaml]; make stop [PREFECT_HOME=...]
PORT ?= 4200
PREFECT_HOME ?= .prefect
CONFIG ?= config/scheduled.yaml

serve: $(STAMP)
	$(BIN)/python -m flows.server start --port $(PORT) --home $(PREFECT_HOME) --config $(CONFIG)

stop:
	$(BIN)/python -m flows.server stop --home $(PREFECT_HOME)

# Benchmarks are separate from the tests; QUICK=1 takes 7 to 9 minutes on 2 cores.
bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m benchmarks.run $(if $(QUICK),--quick)

lint: $(STAMP)
	$(BIN)/ruff check pipeline flows tests benchmarks
	$(BIN)/ruff format --check pipeline flows tests benchmarks

clean:
	rm -rf $(VENV) data/cache .prefect
	find outputs -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
