"""Hugging Face `tokenizers` on one thread over the tokenizer golden's texts (scripts/bench-text): the
same tokenizer.json (padding off, its truncation kept), `encode` per text, ROUNDS times; median.
Usage: tokenizer_bench.py TOKENIZER_JSON TEXTS_JSONL ROUNDS"""
import json
import os
import statistics
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402

path, texts_path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = Tokenizer.from_file(path)
t.no_padding()
with open(texts_path, encoding="utf-8") as f:
    texts = [json.loads(line)["text"] for line in f.read().split("\n")[1:] if line]
size = sum(len(x.encode("utf-8")) for x in texts)
times = []
for _ in range(rounds):
    start = time.perf_counter()
    tokens = 0
    for text in texts:
        tokens += len(t.encode(text).ids)
    times.append(time.perf_counter() - start)
m = statistics.median(times)
print(f"hf    texts {len(texts)}  tokens {tokens}  median {m:.4f} s  {len(texts) / m:.0f} texts/s  {size / m / 1e6:.2f} MB/s  (encode per text)")
# The whole list in one call (no Python per text; RAYON_NUM_THREADS=1 keeps it on one thread).
batch = []
for _ in range(rounds):
    start = time.perf_counter()
    tokens = sum(len(e.ids) for e in t.encode_batch(texts))
    batch.append(time.perf_counter() - start)
m = statistics.median(batch)
print(f"hf    texts {len(texts)}  tokens {tokens}  median {m:.4f} s  {len(texts) / m:.0f} texts/s  {size / m / 1e6:.2f} MB/s  (encode_batch)")
