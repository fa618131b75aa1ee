"""Generates the runner's scale workspace: N Datasets, N Models and N Trainings (fit -> gate), every 17th
Training registering its model, so that N = 3,400 gives 17,200 graph nodes and N = 375 gives 1,897.

Each Dataset reads its own CSV of 200 rows and 6 columns (ingest -> check -> split); each Model is a
linear classifier; each Training runs 2 epochs on one thread.

Usage: scale_workspace.py DIR N
"""
import os
import random
import sys

root, count = sys.argv[1], int(sys.argv[2])
os.makedirs(os.path.join(root, "data"), exist_ok=True)
os.makedirs(os.path.join(root, "specs"), exist_ok=True)
rng = random.Random(0)
for i in range(count):
    rows = ["a,b,c,d,e,label"]
    for _ in range(200):
        x = [rng.uniform(-1, 1) for _ in range(5)]
        rows.append(",".join(f"{v:.4f}" for v in x) + ("," + ("yes" if x[0] + x[1] > x[2] else "no")))
    with open(os.path.join(root, "data", f"d{i:04}.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")

for i in range(count):
    register = "\n  register: {name: m%04d, message: scale}" % i if i % 17 == 0 else ""
    spec = f"""apiVersion: kiln/v1
kind: Dataset
metadata: {{name: d{i:04}}}
spec:
  source: {{path: ../data/d{i:04}.csv}}
  schema:
    columns:
      a: {{type: float}}
      b: {{type: float}}
      c: {{type: float}}
      d: {{type: float}}
      e: {{type: float}}
      label: {{type: category, values: ["no", "yes"]}}
    label: label
  checks:
    - {{check: row_count, min: 10}}
    - {{check: not_null, columns: [a, b]}}
  transforms:
    - {{op: standardize, columns: auto}}
  split: {{strategy: random, train: 0.8, test: 0.2, seed: 0}}
---
apiVersion: kiln/v1
kind: Model
metadata: {{name: m{i:04}}}
spec:
  task: classification
  architecture: {{type: linear}}
  init: {{scheme: zeros}}
---
apiVersion: kiln/v1
kind: Training
metadata: {{name: t{i:04}}}
spec:
  model: m{i:04}
  dataset: d{i:04}
  epochs: 2
  batch_size: 16
  optimizer: {{type: sgd, learning_rate: 0.1}}
  metrics: [accuracy]
  threads: 1
  gates:
    - {{metric: accuracy, split: test, min: 0.0}}{register}
"""
    with open(os.path.join(root, "specs", f"s{i:04}.yaml"), "w") as f:
        f.write(spec)
