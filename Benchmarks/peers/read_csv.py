"""Peers of kiln-bench-data csv: the same numeric file parsed into float64 columns by pandas (C engine)
and by pyarrow's CSV reader, on the threads given. Prints one JSON line, like kiln-bench-data."""
import json
import os
import resource
import sys
import time

tool, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1
size = os.path.getsize(path)
if tool == "pandas":
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_csv(path, engine="c", dtype="float64")
    seconds = time.perf_counter() - start
    rows = len(frame)
elif tool == "pyarrow":
    import pyarrow as pa
    import pyarrow.csv as pv

    pa.set_cpu_count(threads)
    pa.set_io_thread_count(max(threads, 1))
    start = time.perf_counter()
    table = pv.read_csv(path, read_options=pv.ReadOptions(use_threads=threads > 1))
    seconds = time.perf_counter() - start
    rows = table.num_rows
else:
    sys.exit(f"unknown tool {tool}")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"tool": tool, "task": "csv", "rows": rows, "seconds": seconds, "mb_per_s": size / 1e6 / seconds,
                  "peak_mib": peak}))
