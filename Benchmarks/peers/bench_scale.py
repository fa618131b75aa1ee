"""The runner's cost as work grows (issue 15): a generated workspace at several sizes (scale_workspace.py;
N = 375 gives 1,898 nodes, N = 3,400 gives 17,200), each command a fresh process of a release build.

Per size and per binary: an uncached `kiln run -q` on a fresh copy (wall time and the process's peak RSS,
from wait4), then the no-op `kiln run -q`, `kiln status` and `kiln check`, ROUNDS times each; medians.
With --baseline OLD_KILN, the same commands of another build alternate with this one's, round by round.
Copies are made in fresh directories and removed only at the end: ext4 allocates inodes slowly right
after many were deleted, which would time the filesystem instead of kiln.

Usage: bench_scale.py KILN ROUNDS WORKDIR [N...] [--baseline OLD_KILN]
"""
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid

args = sys.argv[1:]
baseline = None
if "--baseline" in args:
    i = args.index("--baseline")
    baseline = args[i + 1]
    del args[i:i + 2]
kiln, rounds, work = args[0], int(args[1]), args[2]
sizes = [int(n) for n in args[3:]] or [375, 3400]
binaries = [("kiln", kiln)] + ([("baseline", baseline)] if baseline else [])
here = os.path.dirname(os.path.abspath(__file__))
made = []


def timed(argv):
    start = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - start
    err = p.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv)} failed: {err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024  # MiB


def fresh(template):
    ws = os.path.join(work, f"ws-{uuid.uuid4().hex[:12]}")
    shutil.copytree(template, ws)
    made.append(ws)
    return ws


med = statistics.median
for n in sizes:
    template = os.path.join(work, f"template-{n}")
    if not os.path.isdir(template):
        subprocess.run([sys.executable, os.path.join(here, "scale_workspace.py"), template, str(n)], check=True)
    results = {name: {"uncached": [], "peak": [], "noop": [], "status": [], "check": []} for name, _ in binaries}
    spaces = {}
    for r in range(rounds):
        for name, binary in binaries:
            ws = fresh(template)
            seconds, peak = timed([binary, "run", ws, "-q"])
            results[name]["uncached"].append(seconds)
            results[name]["peak"].append(peak)
            spaces[name] = ws
    for r in range(rounds):
        for name, binary in binaries:
            results[name]["noop"].append(timed([binary, "run", spaces[name], "-q"])[0])
            results[name]["status"].append(timed([binary, "status", spaces[name]])[0])
            results[name]["check"].append(timed([binary, "check", spaces[name]])[0])
    graph = subprocess.run([kiln, "graph", spaces["kiln"], "--format", "json"], capture_output=True, text=True).stdout
    nodes = graph.count('"fingerprint"')
    print(f"N={n} nodes={nodes}")
    for name, _ in binaries:
        r = results[name]
        print(f"  {name}")
        print(f"    uncached run  median {med(r['uncached']):.2f} s  ({1000 * med(r['uncached']) / nodes:.3f} ms/node)"
              f"  rounds {', '.join(f'{x:.2f}' for x in r['uncached'])}")
        print(f"    peak memory   median {med(r['peak']):.0f} MiB  rounds {', '.join(f'{x:.0f}' for x in r['peak'])}")
        for key, label in [("noop", "no-op run"), ("status", "status"), ("check", "check")]:
            print(f"    {label:<13} median {med(r[key]):.3f} s  rounds {', '.join(f'{x:.3f}' for x in r[key])}")
for ws in made:
    shutil.rmtree(ws, ignore_errors=True)
