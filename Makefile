# Beyond the Lazy Regime: build the course website and run its tests.
#
#   make book            set up .venv/, build the website with every notebook executed
#   make test            set up .venv/, run the whole test suite (unit tests, claims, notebooks)
#   make lab             open the notebooks in JupyterLab
#   make claims          list the claims of the course
#   make paper-ledger    compute every claim at paper scale for seeds 0-2 into results/paper/
#                        (resumable: results current for the code now are skipped)
#   make book-executed   build the website from the notebooks `make test` executed (CI)
#   make check-site      open every page of the built website, and the notebooks in JupyterLab,
#                        in headless Chromium
#   make pdf             print the built website as one PDF: _build/pdf/beyond-the-lazy-regime.pdf
#   make fix-notebooks   rewrite the shared set-up cell, strip outputs (check-notebooks: check)
#   make clean           remove _build/ (distclean: also .venv/)
#
# Set BEYONDLAZY_SCALE=paper to run everything at the papers' sizes (a GPU is recommended).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Pins torch to the CPU build this project's machines install; `make CONSTRAINTS=/dev/null book`
# lets pip choose torch itself (e.g. a CUDA build on a GPU machine).
CONSTRAINTS ?= constraints.txt
INSTALLED := $(VENV)/.installed
BUILD := _build
# Scratch copy of the book in which `make test` executes the notebooks (nbmake --overwrite);
# `make book-executed` publishes that copy without executing anything a second time.
# (Not under _build/: nbmake skips every path that contains a _build folder.)
EXECUTED := .book-executed
RESULTS := $(BUILD)/test-results
# JavaScript the website serves itself (widgets render offline): npm ci + tools/vendor_js.py.
VENDOR := _vendor
VENDORED := $(VENDOR)/.stamp
JB_FLAGS := -W -n --keep-going
NBMAKE_TIMEOUT := 300

.PHONY: help setup book test test-unit test-notebooks book-executed check-site pdf lab claims paper-ledger fix-notebooks check-notebooks clean distclean

help:
	@awk '/^[^#]/ {exit} {sub(/^# ?/, ""); print}' Makefile

$(INSTALLED): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" > /dev/null
	touch $(INSTALLED)

$(VENDORED): package.json package-lock.json tools/vendor_js.py | $(INSTALLED)
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	$(BIN)/python -m tools.vendor_js node_modules $(VENDOR)
	touch $(VENDORED)

setup: $(INSTALLED) $(VENDORED)

book: $(INSTALLED) $(VENDORED)
	$(BIN)/python -m tools.bookcache $(BUILD)
	$(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo ""
	@echo "The course website is ready: open $(CURDIR)/$(BUILD)/html/index.html"

test: test-unit test-notebooks
	@$(BIN)/python -m tools.test_summary $(RESULTS)/unit.xml $(RESULTS)/notebooks.xml
	@$(BIN)/python -m tools.notebook_times $(RESULTS)/notebooks.xml

# Unit tests, the book's conventions, and every claim (results saved for the claims ledger).
test-unit: $(INSTALLED) $(VENDORED)
	BEYONDLAZY_CLAIMS_OUT=$(BUILD)/claims $(BIN)/python -m pytest tests --ignore=tests/site \
	    --junitxml=$(RESULTS)/unit.xml

# Executes every notebook of _toc.yml once, in a scratch copy of the book.
test-notebooks: $(INSTALLED)
	rm -rf $(EXECUTED)
	$(BIN)/python -m tools.stage $(EXECUTED)
	cd $(EXECUTED) && $(CURDIR)/$(BIN)/python -m pytest -p no:cacheprovider -p tools.kernel_encryption --nbmake \
	    --nbmake-timeout=$(NBMAKE_TIMEOUT) --overwrite --junitxml=$(CURDIR)/$(RESULTS)/notebooks.xml \
	    $$($(CURDIR)/$(BIN)/python -m tools.notebooks list --root .)

# Builds the website from the notebooks `make test` executed, from scratch, warnings as errors.
book-executed: $(INSTALLED) $(VENDORED)
	test -d $(EXECUTED) || (echo "run 'make test' first" && exit 1)
	rm -rf $(EXECUTED)/$(VENDOR) && cp -r $(VENDOR) $(EXECUTED)/
	rm -rf $(BUILD)/html $(BUILD)/.doctrees $(BUILD)/jupyter_execute
	BEYONDLAZY_CLAIMS_RESULTS=$(CURDIR)/$(BUILD)/claims \
	    $(BIN)/jupyter-book build $(EXECUTED) --path-output . $(JB_FLAGS)
	@echo "The course website is ready: open $(CURDIR)/$(BUILD)/html/index.html"

# Needs Debian's chromium (apt-get install chromium); screenshots go to _build/screenshots/.
# tests/site/test_lab.py also opens every chapter in JupyterLab and runs Chapter 3b there
# (screenshots in _build/lab-screenshots/).
check-site: $(INSTALLED)
	BEYONDLAZY_REQUIRE_SITE=1 $(BIN)/python -m pytest tests/site -p no:cacheprovider \
	    --junitxml=$(RESULTS)/site.xml

# The whole book as one PDF, printed from the built website (make book or make book-executed) by
# Debian's headless chromium, then read back by tests/test_pdf.py. Also copied into the site.
pdf: $(INSTALLED)
	$(BIN)/python -m tools.pdf --site $(BUILD)/html --out $(BUILD)/pdf
	BEYONDLAZY_REQUIRE_PDF=1 $(BIN)/python -m pytest tests/test_pdf.py -p no:cacheprovider \
	    --junitxml=$(RESULTS)/pdf.xml

# Kernels encrypt their connection (see tools/kernel_encryption.py).
lab: $(INSTALLED)
	$(BIN)/jupyter lab --KernelManager.transport_encryption=auto chapters/

claims: $(INSTALLED)
	$(BIN)/python -m beyondlazy.claims list

# Long (hours on a CPU): run it in the background, e.g. `nohup make paper-ledger > paper.log &`.
PAPER_SEEDS ?= 0-2
paper-ledger: $(INSTALLED)
	$(BIN)/python -m beyondlazy.claims run --all --scale paper --seeds $(PAPER_SEEDS) \
	    --save results/paper --fastest-first

fix-notebooks: $(INSTALLED)
	$(BIN)/python -m tools.notebooks fix

check-notebooks: $(INSTALLED)
	$(BIN)/python -m tools.notebooks check

clean:
	rm -rf $(BUILD) $(EXECUTED)

distclean: clean
	rm -rf $(VENV) lib/*.egg-info node_modules $(VENDOR)
