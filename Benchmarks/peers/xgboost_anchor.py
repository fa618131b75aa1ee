"""kiln's gradient-boosted trees beside the xgboost Python package on the same rows and parameters.

For each data set: a kiln workspace is written (a Dataset with kiln's own stratified or random split, a
gradient_boosting Model, a Training), `kiln run` trains it `--repeat` times (a fresh cache each time),
then xgboost.train runs on the same train rows (read from kiln's split in its cache) with the parameters
kiln gave XGBoost (read from the registered card), and both models are scored on the same test rows.

    python xgboost_anchor.py KILN REPO_ROOT [--repeat N]

Prints one JSON object per data set and a markdown table. Times are medians: kiln's is its fit node
(reading the examples, boosting, evaluating three splits, saving), the peer's is DMatrix + train + predict.
"""
import argparse, csv, json, os, re, shutil, statistics, subprocess, sys, tempfile, time

import numpy as np
import xgboost as xgb

p = argparse.ArgumentParser()
p.add_argument("kiln")
p.add_argument("root")
p.add_argument("--repeat", type=int, default=3)
a = p.parse_args()

TREES = dict(trees=200, max_depth=4, learning_rate=0.1, subsample=0.8, column_sample=0.8)
SETS = [
    # name, csv, label, task, metrics
    ("breast-cancer", "examples/breast-cancer/data/breast-cancer.csv", "target", "binary", ["accuracy", "roc_auc"]),
    ("iris", "examples/iris/data/iris.csv", "species", "classification", ["accuracy", "f1_macro"]),
    ("wine", "examples/wine/data/wine.csv", "target", "classification", ["accuracy", "f1_macro"]),
    ("diabetes", "examples/diabetes/data/diabetes.csv", "progression", "regression", ["r2", "rmse"]),
    # 21,699 rows with NA in nine columns: XGBoost's missing values on both sides.
    ("batting", "examples/baseball/data/batting.csv", "hr", "regression", ["r2", "rmse"]),
]
IGNORED = {"id", "team", "lg"}


def workspace(name, path, label, task, metrics):
    rows = list(csv.reader(open(os.path.join(a.root, path))))
    header, body = rows[0], rows[1:]
    d = tempfile.mkdtemp(prefix="kiln-anchor-")
    shutil.copy(os.path.join(a.root, path), os.path.join(d, "data.csv"))
    li = header.index(label)
    values = []
    for r in body:
        if r[li] not in values:
            values.append(r[li])
    columns = []
    for i, h in enumerate(header):
        if i == li and task != "regression":
            columns.append(f"      {h}: {{type: category, values: [{', '.join(values)}]}}")
        elif h in IGNORED:
            columns.append(f"      {h}: {{type: string, ignore: true}}")
        else:
            nullable = any(r[i] == "NA" for r in body)
            columns.append(f"      {h}: {{type: float{', nullable: true' if nullable else ''}}}")
    strategy = "random" if task == "regression" else "stratified"
    spec = f"""apiVersion: kiln/v1
kind: Dataset
metadata: {{name: data}}
spec:
  source: {{path: data.csv, null_values: [NA]}}
  schema:
    columns:
{chr(10).join(columns)}
    label: {label}
  split: {{strategy: {strategy}, train: 0.7, validation: 0.1, test: 0.2, seed: 0}}
---
apiVersion: kiln/v1
kind: Model
metadata: {{name: trees}}
spec:
  task: {task}
  architecture: {{type: gradient_boosting, {', '.join(f'{k}: {v}' for k, v in TREES.items())}}}
---
apiVersion: kiln/v1
kind: Training
metadata: {{name: boost}}
spec:
  model: trees
  dataset: data
  metrics: [{', '.join(metrics)}]
  seed: 0
  threads: 2
  register: {{alias: staging}}
"""
    open(os.path.join(d, "spec.yaml"), "w").write(spec)
    return d, header, body, li, values


def kiln_run(d):
    """The fit node's seconds and metrics, from the run record (a quiet run: no progress output)."""
    shutil.rmtree(os.path.join(d, ".kiln"), ignore_errors=True)
    subprocess.run([a.kiln, "run", d, "--quiet"], capture_output=True, text=True, check=True)
    runs = os.path.join(d, ".kiln", "runs")
    record = json.load(open(os.path.join(runs, sorted(os.listdir(runs))[-1])))
    for n in record["nodes"]:
        if n["id"] == "training/boost:fit":
            return n["seconds"], n["metrics"]
    raise SystemExit("no fit node in kiln's run record")


def scores(task, y, p, classes):
    if task == "regression":
        err = p - y
        return {"r2": 1 - float((err ** 2).sum() / ((y - y.mean()) ** 2).sum()), "rmse": float(np.sqrt((err ** 2).mean()))}
    if task == "binary":
        predicted = (p >= 0.5).astype(int)
        order = np.argsort(p, kind="mergesort")
        ranks = np.empty(len(p))
        ranks[order] = np.arange(1, len(p) + 1)
        # ties averaged, as kiln's (Mann-Whitney U)
        for v in np.unique(p):
            m = p == v
            ranks[m] = ranks[m].mean()
        pos = y == 1
        auc = (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())
        return {"accuracy": float((predicted == y).mean()), "roc_auc": float(auc)}
    predicted = p.argmax(axis=1)
    f1s = []
    for c in range(classes):
        tp = ((predicted == c) & (y == c)).sum()
        pp, tt = (predicted == c).sum(), (y == c).sum()
        if pp + tt == 0:
            continue
        prec = tp / pp if pp else 0.0
        rec = tp / tt if tt else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return {"accuracy": float((predicted == y).mean()), "f1_macro": float(np.mean(f1s))}


table = []
for name, path, label, task, metrics in SETS:
    d, header, body, li, values = workspace(name, path, label, task, metrics)
    runs = [kiln_run(d) for _ in range(a.repeat)]
    kiln_seconds = statistics.median(r[0] for r in runs)
    kiln_metrics = runs[-1][1]
    lock = open(os.path.join(d, "kiln.lock")).read()
    key = re.search(r"\[dataset/data:split\]\nkey (\w+)", lock).group(1)
    split = json.load(open(os.path.join(d, ".kiln", "cache", key[:2], key, "split.json")))["indices"]
    card = json.loads(subprocess.run([a.kiln, "show", "trees@v1", "-C", d, "--json"], capture_output=True, text=True, check=True).stdout)["card"]
    params = dict(card["booster"]["parameters"])
    rounds = int(card["booster"]["rounds"])
    keep = [j for j, h in enumerate(header) if j != li and h not in IGNORED]
    x = np.array([[np.nan if r[j] == "NA" else float(r[j]) for j in keep] for r in body], dtype=np.float32)
    if task == "regression":
        y = np.array([float(r[li]) for r in body], dtype=np.float32)
    else:
        y = np.array([values.index(r[li]) for r in body], dtype=np.float32)
    tr, te = np.array(split["train"]), np.array(split["test"])
    times, peer = [], None
    for _ in range(a.repeat):
        start = time.perf_counter()
        dtrain = xgb.DMatrix(x[tr], label=y[tr], missing=np.nan)
        booster = xgb.train(params, dtrain, num_boost_round=rounds)
        p_test = booster.predict(xgb.DMatrix(x[te], missing=np.nan))
        times.append(time.perf_counter() - start)
        peer = scores(task, y[te], p_test, len(values))
    row = {"data": name, "rows": len(body), "task": task, "rounds": rounds, "kiln_seconds": kiln_seconds,
           "xgboost_seconds": statistics.median(times), "xgboost": xgb.__version__}
    for m in metrics:
        row["kiln_" + m] = kiln_metrics["test_" + m]
        row["xgboost_" + m] = peer[m]
    print(json.dumps(row), flush=True)
    table.append(row)
    shutil.rmtree(d, ignore_errors=True)

print()
print("| data | rows | task | test metric: kiln | xgboost (Python) | fit time: kiln | xgboost | ratio |")
print("|---|---|---|---|---|---|---|---|")
for r in table:
    m = [k[5:] for k in r if k.startswith("kiln_") and k != "kiln_seconds"]
    kiln_v = ", ".join(f"{k} {r['kiln_' + k]:.4f}" for k in m)
    peer_v = ", ".join(f"{k} {r['xgboost_' + k]:.4f}" for k in m)
    print(f"| {r['data']} | {r['rows']} | {r['task']} | {kiln_v} | {peer_v} | {r['kiln_seconds'] * 1000:.0f} ms | {r['xgboost_seconds'] * 1000:.0f} ms | {r['kiln_seconds'] / r['xgboost_seconds']:.2f} |")
