"""kiln serve beside MLflow's `mlflow models serve`, in one run, loaded by wrk on loopback.

Two models of the same architecture on each side:
  - iris: the iris example's MLP (4 → 16 → 16 → 3; kiln trains it with `kiln run`, MLflow serves
    scikit-learn's MLPClassifier(16, 16) behind a StandardScaler, as kiln's card standardises);
  - digits: a 784 → 512 → 256 → 10 MLP on synthetic 784-feature rows (the shape of MNIST).
kiln serves each twice, batching on (max_batch_size 64, max_delay 2ms) and off (max_batch_size 1).
Each request is one row. wrk runs DURATION seconds per point at 1, 16 and 64 connections; figures are
medians over ROUNDS.

Usage: bench_serve.py KILN MLFLOW_VENV ROUNDS WORKDIR [DURATION]    (scripts/bench-serve)
"""

import csv
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

kiln, venv, rounds, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
duration = int(sys.argv[5]) if len(sys.argv) > 5 else 8
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
connections = [1, 16, 64]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return True
        except Exception:
            time.sleep(0.3)
    return False


def post(url, body):
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.status, r.read().decode()


# MARK: data and workspace

shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
ws = os.path.join(work, "workspace")
shutil.copytree(os.path.join(root, "examples/iris/data"), os.path.join(ws, "data"))
shutil.copytree(os.path.join(root, "examples/iris/specs"), os.path.join(ws, "specs"))

rng = random.Random(7)
features = 784
projections = [[rng.gauss(0, 1) for _ in range(features)] for _ in range(10)]
digits_rows = []
for _ in range(3000):
    x = [round(rng.random(), 3) for _ in range(features)]
    scores = [sum(p[i] * x[i] for i in range(0, features, 7)) for p in projections]
    digits_rows.append(x + ["d%d" % scores.index(max(scores))])
names = ["px%d" % i for i in range(features)]
with open(os.path.join(ws, "data/digits.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(names + ["digit"])
    w.writerows(digits_rows)

columns = "".join("      %s: {type: float}\n" % n for n in names)
classes = ", ".join("d%d" % i for i in range(10))
with open(os.path.join(ws, "specs/digits.yaml"), "w") as f:
    f.write(f"""apiVersion: kiln/v1
kind: Dataset
metadata: {{name: digits}}
spec:
  source: {{path: ../data/digits.csv}}
  schema:
    columns:
{columns}      digit: {{type: category, values: [{classes}]}}
    label: digit
  split: {{strategy: random, train: 0.8, validation: 0.1, test: 0.1, seed: 0}}
---
apiVersion: kiln/v1
kind: Model
metadata: {{name: digits-net}}
spec:
  task: classification
  architecture: {{type: mlp, hidden: [512, 256]}}
---
apiVersion: kiln/v1
kind: Training
metadata: {{name: digits-train}}
spec:
  model: digits-net
  dataset: digits
  epochs: 2
  batch_size: 64
  optimizer: {{type: adam, learning_rate: 0.001}}
  register: {{name: digits-mlp, alias: staging, message: "784-512-256-10 for the serving benchmark"}}
""")

deployments = []
for model, ref in [("iris", "iris-mlp@staging"), ("digits", "digits-mlp@staging")]:
    for mode, batching in [("batched", "{max_batch_size: 64, max_delay: 2ms}"), ("single", "{max_batch_size: 1}")]:
        deployments.append(f"""apiVersion: kiln/v1
kind: Deployment
metadata: {{name: {model}-{mode}}}
spec:
  model: {ref}
  environment: bench
  batching: {batching}
  limits: {{max_concurrency: 1024}}
  auth: none
""")
with open(os.path.join(ws, "specs/deploy.yaml"), "w") as f:
    f.write("---\n".join(deployments))

print("kiln run (iris and the 784-512-256-10 model)...", file=sys.stderr)
subprocess.run([kiln, "run", ws, "--quiet"], check=True)

iris_row = [5.9, 3.0, 5.1, 1.8]
digits_row = digits_rows[0][:features]
bodies = {
    ("kiln", "iris"): json.dumps(
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": iris_row}]}),
    ("kiln", "digits"): json.dumps(
        {"inputs": [{"name": "x", "shape": [1, features], "datatype": "FP32", "data": digits_row}]}),
    ("mlflow", "iris"): json.dumps({"inputs": [iris_row]}),
    ("mlflow", "digits"): json.dumps({"inputs": [digits_row]}),
}
for key, body in bodies.items():
    with open(os.path.join(work, "%s-%s.json" % key), "w") as f:
        f.write(body)
lua = os.path.join(work, "post.lua")
with open(lua, "w") as f:
    f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            'wrk.body = io.open(os.getenv("BODY_FILE")):read("*a")\n')

# MARK: servers

servers = []


def stop_all():
    for p in servers:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in servers:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


kiln_port = free_port()
servers.append(subprocess.Popen(
    [kiln, "serve", ws, "--port", str(kiln_port), "--log-level", "warning"], stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL))
if not wait_http("http://127.0.0.1:%d/v2/health/ready" % kiln_port):
    stop_all()
    sys.exit("kiln serve did not start")

mlflow_ports = {}
mlflow_note = None
mlflow_bin = os.path.join(venv, "bin", "mlflow")
python = os.path.join(venv, "bin", "python")
if not os.path.exists(mlflow_bin):
    mlflow_note = "MLflow is not installed in %s (pip install mlflow scikit-learn failed): skipped" % venv
else:
    train = os.path.join(work, "train_mlflow.py")
    with open(train, "w") as f:
        f.write(f"""
import csv, sys, mlflow.sklearn
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
def load(path, label):
    rows = list(csv.DictReader(open(path)))
    names = [k for k in rows[0] if k != label]
    return [[float(r[n]) for n in names] for r in rows], [r[label] for r in rows]
x, y = load({os.path.join(ws, "data/iris.csv")!r}, "species")
iris = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16, 16), max_iter=500, random_state=0)).fit(x, y)
# MLflow 3 stores scikit-learn models with skops, which loads only the types it is told to trust.
trusted = ["sklearn.neural_network._stochastic_optimizers.AdamOptimizer"]
mlflow.sklearn.save_model(iris, {os.path.join(work, "mlflow-iris")!r}, skops_trusted_types=trusted)
x, y = load({os.path.join(ws, "data/digits.csv")!r}, "digit")
digits = MLPClassifier(hidden_layer_sizes=(512, 256), max_iter=2, random_state=0).fit(x, y)
mlflow.sklearn.save_model(digits, {os.path.join(work, "mlflow-digits")!r}, skops_trusted_types=trusted)
""")
    print("training the MLflow models (scikit-learn)...", file=sys.stderr)
    trained = subprocess.run([python, train], capture_output=True, text=True)
    if trained.returncode != 0:
        stop_all()
        sys.exit("training the MLflow models failed:\n" + trained.stderr[-2000:])
    env = dict(os.environ, PATH=os.path.join(venv, "bin") + ":" + os.environ["PATH"])
    for model in ["iris", "digits"]:
        port = free_port()
        servers.append(subprocess.Popen(
            [mlflow_bin, "models", "serve", "-m", os.path.join(work, "mlflow-" + model), "-p", str(port),
             "-h", "127.0.0.1", "--env-manager", "local", "-w", "2"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if wait_http("http://127.0.0.1:%d/ping" % port):
            mlflow_ports[model] = port
        else:
            mlflow_note = "mlflow models serve did not start: skipped"

# Every server answers the benchmark's request correctly before it is timed.
targets = {}
for model in ["iris", "digits"]:
    for mode in ["batched", "single"]:
        url = "http://127.0.0.1:%d/v2/models/%s-%s/infer" % (kiln_port, model, mode)
        status, text = post(url, bodies[("kiln", model)])
        assert status == 200 and '"label"' in text, text
        targets[("kiln " + mode, model)] = (url, os.path.join(work, "kiln-%s.json" % model))
    if model in mlflow_ports:
        url = "http://127.0.0.1:%d/invocations" % mlflow_ports[model]
        status, text = post(url, bodies[("mlflow", model)])
        assert status == 200 and "predictions" in text, text
        targets[("mlflow", model)] = (url, os.path.join(work, "mlflow-%s.json" % model))
        # MLflow's server stalls about 40 ms on each request of a kept-alive connection (a delayed-ACK
        # wait); a new connection per request avoids it, so it is measured that way too, its best case.
        targets[("mlflow new-conn", model)] = (url, os.path.join(work, "mlflow-%s.json" % model))


def to_ms(text):
    value, unit = float(re.match(r"([\d.]+)", text).group(1)), re.sub(r"[\d.]", "", text)
    return value * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def wrk(url, body_file, c, seconds, close=False):
    out = subprocess.run(
        ["wrk", "-t", str(min(2, c)), "-c", str(c), "-d", "%ds" % seconds, "--latency", "-s", lua]
        + (["-H", "Connection: close"] if close else []) + [url],
        env=dict(os.environ, BODY_FILE=body_file), capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if errors or socket_errors:
        print("  warning: %s at %d: %s %s" % (url, c, errors and errors.group(0), socket_errors and socket_errors.group(0)),
              file=sys.stderr)
    return rps, p50, p99


results = {}
try:
    for (server, model), (url, body) in targets.items():
        wrk(url, body, 16, 2, close=server.endswith("new-conn"))  # warm-up
    for r in range(rounds):
        for (server, model), (url, body) in targets.items():
            for c in connections:
                results.setdefault((server, model, c), []).append(
                    wrk(url, body, c, duration, close=server.endswith("new-conn")))
        print("round %d of %d done" % (r + 1, rounds), file=sys.stderr)
finally:
    stop_all()

print("| model | server | connections | requests/s | p50 ms | p99 ms |")
print("|---|---|---|---|---|---|")
for model in ["iris", "digits"]:
    for server in ["kiln batched", "kiln single", "mlflow", "mlflow new-conn"]:
        for c in connections:
            runs = results.get((server, model, c))
            if not runs:
                continue
            rps = statistics.median(x[0] for x in runs)
            p50 = statistics.median(x[1] for x in runs)
            p99 = statistics.median(x[2] for x in runs)
            print("| %s | %s | %d | %.0f | %.2f | %.2f |" % (model, server, c, rps, p50, p99))
print()
for model in ["iris", "digits"]:
    for c in connections:
        # Against MLflow's better figure at this load, kept-alive or a new connection per request.
        peer = [statistics.median(x[0] for x in results[(m, model, c)])
                for m in ["mlflow", "mlflow new-conn"] if (m, model, c) in results]
        for server in ["kiln batched", "kiln single"]:
            k = results.get((server, model, c))
            if k and peer:
                print("%s, %d connections: %s / best mlflow = %.1fx requests/s" % (
                    model, c, server, statistics.median(x[0] for x in k) / max(peer)))
if mlflow_note:
    print(mlflow_note)
