# Two commands on a fresh machine with Python 3.11 and make:
#   make run   installs everything into .venv/ and starts the bot on its embedded defaults
#   make test  installs everything into .venv/ and runs the whole test suite
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium

.PHONY: run test install browser lint bench check-content clean

$(STAMP): requirements.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP) browser

# The browser tests drive Debian's Chromium (never `playwright install`, which downloads a browser from
# outside). Installed when missing and we are root with apt-get; elsewhere those tests skip and say why.
# DejaVu renders Vietnamese; the colour-emoji font makes the screenshots show the buttons' emoji as a
# phone does (cosmetic: the tests do not depend on it).
BROWSER_PACKAGES = chromium fonts-dejavu-core fonts-noto-color-emoji
EMOJI_FONT = /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -e $(EMOJI_FONT) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium and fonts for the browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(BROWSER_PACKAGES) \
	      || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	           $(BROWSER_PACKAGES); } || echo "chromium could not be installed: browser tests will skip"; \
	  else echo "no $(CHROMIUM) (not root or no apt-get): browser tests will skip"; fi; \
	fi

run: $(STAMP)
	$(BIN)/chonnghe serve

# Two workers (pytest-xdist), one test module per worker at a time (module fixtures built once): the
# suite runs in about half the time on the 2-core CI machine. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope

lint: $(STAMP)
	$(BIN)/ruff check .

check-content: $(STAMP)
	$(BIN)/chonnghe content check

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) var .pytest_cache
