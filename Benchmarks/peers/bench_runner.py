"""kiln run / kiln status beside dvc repro / dvc status on twin 1,000-node workspaces (runner_workspace.py).

Measured, wall clock, each command in its own process:
- no-op: every node up to date. `kiln run` and `dvc repro` (stdout to /dev/null), `kiln status` and
  `dvc status`; ROUNDS rounds, kiln and DVC alternating within a round; medians.
- uncached: `kiln run -q` on a fresh copy of the workspace (a new directory each round: ext4 allocates
  inodes slowly right after deleting many), divided by 1,000 for the time per node. DVC's first
  `dvc repro` is timed once (it takes minutes).

Usage: bench_runner.py KILN DVC ROUNDS WORKDIR
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

kiln, dvc, rounds, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
base = os.path.join(work, "base")
if not os.path.isdir(base):
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "runner_workspace.py"), base], check=True)


def timed(command, cwd=None):
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"bench-runner: {' '.join(command)} failed ({result.returncode}): {result.stderr.decode()[-2000:]}")
    return seconds


def fresh(kind, tag):
    path = os.path.join(work, f"{kind}-{tag}-{os.getpid()}")
    shutil.copytree(os.path.join(base, kind), path)
    return path


figures = {k: [] for k in ["kiln_uncached", "kiln_run", "kiln_status", "dvc_repro", "dvc_status"]}
kiln_ws = None
for r in range(rounds):
    path = fresh("kiln", f"u{r}")
    time.sleep(1)
    figures["kiln_uncached"].append(timed([kiln, "run", path, "-q"]))
    if kiln_ws:
        shutil.rmtree(kiln_ws)
    kiln_ws = path

dvc_ws = fresh("dvc", "w")
subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=dvc_ws, check=True)
print("bench-runner: dvc repro of 1,000 stages, first time (takes minutes)...", file=sys.stderr, flush=True)
dvc_first = timed([dvc, "repro", "-q"], cwd=dvc_ws)

for r in range(rounds):
    figures["kiln_run"].append(timed([kiln, "run", kiln_ws]))
    figures["dvc_repro"].append(timed([dvc, "repro"], cwd=dvc_ws))
    figures["kiln_status"].append(timed([kiln, "status", kiln_ws]))
    figures["dvc_status"].append(timed([dvc, "status"], cwd=dvc_ws))

m = {k: statistics.median(v) for k, v in figures.items()}
version = subprocess.run([dvc, "--version"], capture_output=True, text=True).stdout.strip()
print(f"1,000 nodes, all up to date (median of {rounds}):")
print(f"  kiln run      {m['kiln_run']:.3f} s   dvc repro   {m['dvc_repro']:.3f} s   ratio {m['dvc_repro'] / m['kiln_run']:.1f}x")
print(f"  kiln status   {m['kiln_status']:.3f} s   dvc status  {m['dvc_status']:.3f} s   ratio {m['dvc_status'] / m['kiln_status']:.1f}x")
print(f"1,000 nodes, nothing cached: kiln run {m['kiln_uncached']:.3f} s ({m['kiln_uncached']:.3f} ms per node, "
      f"median of {rounds}); dvc repro {dvc_first:.1f} s (once)")
print(json.dumps({"dvc": version, "rounds": rounds, "dvc_first_repro": dvc_first,
                  **{k: [round(x, 4) for x in v] for k, v in figures.items()}}))
shutil.rmtree(kiln_ws)
shutil.rmtree(dvc_ws)
