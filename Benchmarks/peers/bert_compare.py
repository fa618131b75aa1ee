"""kiln's BERT forward pass against transformers/PyTorch on 500 texts of the tokenizer golden
(scripts/bert-compare): the peer tokenizes them (truncation 128), runs them in batches of 16 with
padding, and compares with the hidden states kiln-bench-bert --dump wrote for the same ids: max |Δ| of
the last hidden state, and the worst cosine of the masked-mean embeddings.
Usage: bert_compare.py MODEL_FOLDER TEXTS_JSONL IDS_JSON KILN_BENCH_BERT OUT_BIN"""
import json
import os
import subprocess
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

folder, texts_path, ids_path, kiln, out_bin = sys.argv[1:]
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModel.from_pretrained(folder).eval()
with open(texts_path, encoding="utf-8") as f:
    texts = [json.loads(line)["text"] for line in f.read().split("\n")[1:] if line][:500]
ids = [tokenizer(t, truncation=True, max_length=128)["input_ids"] for t in texts]
with open(ids_path, "w") as f:
    json.dump(ids, f)
subprocess.run([kiln, "--dump", folder, ids_path, out_bin], check=True)
mine = np.fromfile(out_bin, dtype="<f4")
h = model.config.hidden_size
worst, worst_cos, offset = 0.0, 1.0, 0
for start in range(0, len(ids), 16):
    chunk = ids[start:start + 16]
    longest = max(len(x) for x in chunk)
    input_ids = torch.tensor([x + [0] * (longest - len(x)) for x in chunk])
    mask = torch.tensor([[1] * len(x) + [0] * (longest - len(x)) for x in chunk])
    with torch.no_grad():
        hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state.numpy()
    for b, x in enumerate(chunk):
        n = len(x)
        k = mine[offset:offset + n * h].reshape(n, h)
        offset += n * h
        p = hidden[b, :n]
        worst = max(worst, float(np.abs(k - p).max()))
        a, c = k.mean(0), p.mean(0)
        worst_cos = min(worst_cos, float(a @ c / (np.linalg.norm(a) * np.linalg.norm(c))))
print(f"{len(ids)} texts: max |Δ| of the last hidden state {worst:.3g}, worst cosine of the mean embeddings 1 - {1 - worst_cos:.3g}")
sys.exit(0 if worst < 1e-4 and 1 - worst_cos < 1e-5 else 1)
