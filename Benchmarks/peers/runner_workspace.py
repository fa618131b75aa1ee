"""Generates the runner benchmark's twin workspaces: a kiln workspace of 1,000 graph nodes and a DVC
project of 1,000 stages with the same dependency structure.

kiln: 300 Datasets (ingest -> check -> split: 900 nodes), each over its own small CSV, and 50 Trainings
(fit -> gate: 100 nodes) of a linear model on the first 50 datasets.
DVC: a stage per kiln node; each stage depends on its upstream stage's output (or the CSV) and copies
it to its own output, so `dvc repro`/`dvc status` check the same 1,000 dependency edges and hashes.

Usage: runner_workspace.py DIR
"""
import os
import random
import sys

root = sys.argv[1]
kiln = os.path.join(root, "kiln")
dvc = os.path.join(root, "dvc")
DATASETS, TRAININGS = 300, 50
for d in (kiln, dvc):
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
os.makedirs(os.path.join(kiln, "specs"), exist_ok=True)

rng = random.Random(0)
for i in range(DATASETS):
    rows = ["a,b,c,label"]
    for _ in range(40):
        a, b, c = (rng.uniform(-1, 1) for _ in range(3))
        rows.append(f"{a:.4f},{b:.4f},{c:.4f},{'yes' if a + b > c else 'no'}")
    text = "\n".join(rows) + "\n"
    for d in (kiln, dvc):
        with open(os.path.join(d, "data", f"d{i:03}.csv"), "w") as f:
            f.write(text)

specs = []
for i in range(DATASETS):
    specs.append(f"""apiVersion: kiln/v1
kind: Dataset
metadata: {{name: d{i:03}}}
spec:
  source: {{path: ../data/d{i:03}.csv}}
  schema:
    columns:
      a: {{type: float}}
      b: {{type: float}}
      c: {{type: float}}
      label: {{type: category, values: ["no", "yes"]}}
    label: label
  checks:
    - {{check: row_count, min: 10}}
  split: {{strategy: random, train: 0.8, test: 0.2, seed: 0}}
""")
specs.append("""apiVersion: kiln/v1
kind: Model
metadata: {name: tiny}
spec:
  task: classification
  architecture: {type: linear}
  init: {scheme: zeros}
""")
for j in range(TRAININGS):
    specs.append(f"""apiVersion: kiln/v1
kind: Training
metadata: {{name: t{j:03}}}
spec:
  model: tiny
  dataset: d{j:03}
  epochs: 1
  batch_size: 8
  optimizer: {{type: sgd, learning_rate: 0.1}}
  metrics: [accuracy]
  threads: 1
  gates:
    - {{metric: accuracy, split: test, min: 0.0}}
""")
with open(os.path.join(kiln, "specs", "all.yaml"), "w") as f:
    f.write("---\n".join(specs))

stages = []
for i in range(DATASETS):
    previous = f"data/d{i:03}.csv"
    for step in ("ingest", "check", "split"):
        out = f"out/d{i:03}.{step}"
        stages.append((f"d{i:03}-{step}", previous, out))
        previous = out
for j in range(TRAININGS):
    fit = f"out/t{j:03}.fit"
    stages.append((f"t{j:03}-fit", f"out/d{j:03}.split", fit))
    stages.append((f"t{j:03}-gate", fit, f"out/t{j:03}.gate"))
assert len(stages) == 1000
os.makedirs(os.path.join(dvc, "out"), exist_ok=True)
with open(os.path.join(dvc, "dvc.yaml"), "w") as f:
    f.write("stages:\n")
    for name, dep, out in stages:
        f.write(f"  {name}:\n    cmd: cp {dep} {out}\n    deps: [{dep}]\n    outs: [{out}]\n")
print(f"generated {DATASETS * 3 + TRAININGS * 2} kiln nodes in {kiln} and {len(stages)} dvc stages in {dvc}")
