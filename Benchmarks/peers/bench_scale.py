"""The runner's cost as work grows (issue 15): a generated workspace at two sizes (scale_workspace.py;
N = 375 gives 1,898 nodes, N = 3,400 gives 17,200), each command a fresh process of the release build.

Per size: an uncached `kiln run -q` on a fresh copy (wall time and the process's peak RSS, from wait4),
then the no-op `kiln run -q`, `kiln status` and `kiln check`, ROUNDS times each; medians.

Usage: bench_scale.py KILN ROUNDS WORKDIR [N...]
"""
import os
import shutil
import statistics
import subprocess
import sys
import time

kiln, rounds, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sizes = [int(n) for n in sys.argv[4:]] or [375, 3400]
here = os.path.dirname(os.path.abspath(__file__))


def timed(args, cwd=None):
    start = time.perf_counter()
    p = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - start
    err = p.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(args)} failed: {err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024  # MiB


for n in sizes:
    template = os.path.join(work, f"template-{n}")
    if not os.path.isdir(template):
        subprocess.run([sys.executable, os.path.join(here, "scale_workspace.py"), template, str(n)], check=True)
    nodes = None
    uncached, peaks = [], []
    for r in range(rounds):
        ws = os.path.join(work, f"ws-{n}-{r}")
        shutil.rmtree(ws, ignore_errors=True)
        shutil.copytree(template, ws)
        seconds, peak = timed([kiln, "run", ws, "-q"])
        uncached.append(seconds)
        peaks.append(peak)
    ws = os.path.join(work, f"ws-{n}-0")
    if nodes is None:
        out = subprocess.run([kiln, "status", ws], capture_output=True, text=True).stdout
        graph = subprocess.run([kiln, "graph", ws, "--format", "json"], capture_output=True, text=True).stdout
        nodes = graph.count('"fingerprint"')
    noop = [timed([kiln, "run", ws, "-q"])[0] for _ in range(rounds)]
    status = [timed([kiln, "status", ws])[0] for _ in range(rounds)]
    check = [timed([kiln, "check", ws])[0] for _ in range(rounds)]
    med = statistics.median
    print(f"N={n} nodes={nodes}")
    print(f"  uncached run  median {med(uncached):.2f} s  ({1000 * med(uncached) / nodes:.3f} ms/node)  "
          f"rounds {', '.join(f'{x:.2f}' for x in uncached)}")
    print(f"  peak memory   median {med(peaks):.0f} MiB  rounds {', '.join(f'{x:.0f}' for x in peaks)}")
    print(f"  no-op run     median {med(noop):.3f} s  rounds {', '.join(f'{x:.3f}' for x in noop)}")
    print(f"  status        median {med(status):.3f} s  rounds {', '.join(f'{x:.3f}' for x in status)}")
    print(f"  check         median {med(check):.3f} s  rounds {', '.join(f'{x:.3f}' for x in check)}")
    for r in range(rounds):
        shutil.rmtree(os.path.join(work, f"ws-{n}-{r}"), ignore_errors=True)
