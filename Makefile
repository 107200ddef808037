# fer-edu: two commands do everything (see README.md):
#   make book   create the environment, build the course, say where to open it
#   make test   create the environment, run every test (unit tests, notebooks under nbval, strict book build)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Progress bars render as text in executed notebooks (a frozen widget otherwise).
export FER_EDU_TEXT_PROGRESS := 1

.PHONY: book test venv notebooks pages lab clean

# The versions requirements.txt pins (numpy, pandas, matplotlib, pillow, ipykernel) need Python 3.11 or newer:
# say so before making .venv, not after a long failed install.
CHECK_PYTHON = import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
	"make: $(PYTHON) is Python %d.%d; the course needs Python 3.11 or newer. Choose another interpreter, " \
	"for example: PYTHON=python3.11 make book" % sys.version_info[:2])

# The notebooks' committed outputs come from the real FER-2013: without it the loader falls back to the
# synthetic faces (with only a warning), and re-executing would overwrite every output with theirs.
CHECK_DATA = import sys; from fer_edu.data import default_data_path, load_fer2013; p = default_data_path(); \
	n = load_fer2013(p).split_counts() if p else {}; where = p or "FER_EDU_DATA unset, nothing in data/"; \
	sys.exit(0 if all(n.get(s) for s in ("Training", "PublicTest", "PrivateTest")) else \
	f"make notebooks: no FER-2013 with Training, PublicTest and PrivateTest splits ({where}; splits: {n}). " \
	"The committed outputs come from the real data: re-executing on the synthetic faces would overwrite " \
	"them all. Set FER_EDU_DATA or put the download in data/ (README.md, Getting FER-2013).")

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c '$(CHECK_PYTHON)'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (fer-edu)" >/dev/null
	touch $(STAMP)

venv: $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo
	@echo "The course is built: open file://$(CURDIR)/_build/html/index.html"
	@if [ -z "$$CI" ] && { [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" = Darwin ]; }; then \
		$(PY) -m webbrowser -t "file://$(CURDIR)/_build/html/index.html" >/dev/null 2>&1 || true; fi

test: $(STAMP)
	$(PY) -m pytest

# Re-execute every notebook in place ("train it yourself" cells at smoke scale) and rewrite the results summary page: run after results change,
# and commit both with the results (nbval compares the committed outputs with results/). Stops first without the real FER-2013.
notebooks: $(STAMP)
	@$(PY) -c '$(CHECK_DATA)'
	$(PY) -m fer_edu results --markdown book/results.md >/dev/null
	$(MAKE) --no-print-directory pages
	FER_EDU_SCALE=smoke $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=1800 notebooks/*.ipynb

# Rewrite the tables in book/intro.md (chapter times) and book/setup.md (scale costs) from the notebooks
# and results/: a Markdown page cannot glue, and tests/test_book_tables.py fails while a page is stale.
pages: $(STAMP)
	$(PY) -c "from fer_edu.book_pages import write_book_tables; [print('rewrote', p) for p in write_book_tables()]"

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf _build .pytest_cache
