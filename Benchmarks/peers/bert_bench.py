"""all-MiniLM-L6-v2 inference in PyTorch (eager, no grad) and ONNX Runtime (the model exported with
torch.onnx once), on sequences of exactly LENGTH tokens of real text, batch 1 and 32; median sentences/s.
Writes the ids it uses to IDS_JSON first (kiln-bench-bert reads them).
Usage: bert_bench.py MODEL_FOLDER TEXTS_JSONL IDS_JSON ONNX_PATH THREADS ROUNDS [LENGTH]"""
import json
import os
import statistics
import sys
import time

folder, texts_path, ids_path, onnx_path, threads, rounds = sys.argv[1:7]
length = int(sys.argv[7]) if len(sys.argv) > 7 else 128
threads, rounds = int(threads), int(rounds)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["OMP_NUM_THREADS"] = str(threads)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

torch.set_num_threads(threads)
tokenizer = AutoTokenizer.from_pretrained(folder)
with open(texts_path, encoding="utf-8") as f:
    texts = [json.loads(line)["text"] for line in f.read().split("\n")[1:] if line]
ids = []
for text in texts:
    e = tokenizer(text, truncation=True, max_length=length)["input_ids"]
    if len(e) == length:
        ids.append(e)
    if len(ids) == 160:
        break
while len(ids) < 160:
    ids.append(ids[len(ids) % max(1, len(ids))] if ids else [101] + [1996] * (length - 2) + [102])
with open(ids_path, "w") as f:
    json.dump(ids, f)
model = AutoModel.from_pretrained(folder).eval()
all_ids = torch.tensor(ids)
class Encoder(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


if not os.path.exists(onnx_path):
    torch.onnx.export(
        Encoder(model), (all_ids[:2], torch.ones_like(all_ids[:2])), onnx_path, input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"], dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}},
        opset_version=17, dynamo=False)
import onnxruntime as ort  # noqa: E402

options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])


def torch_run(batch):
    with torch.no_grad():
        mask = torch.ones_like(batch)
        h = model(input_ids=batch, attention_mask=mask).last_hidden_state
        return (h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)


def ort_run(batch):
    b = batch.numpy()
    mask = np.ones_like(b)
    h = session.run(None, {"input_ids": b, "attention_mask": mask})[0]
    return (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)


for name, run in [("torch", torch_run), ("onnxruntime", ort_run)]:
    for batch in [1, 32]:
        items = 32 if batch == 1 else 128

        def one_pass():
            for i in range(0, items, batch):
                run(all_ids[i % 160: i % 160 + batch])

        one_pass()
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            one_pass()
            times.append(time.perf_counter() - start)
        print(f"{name}  threads {threads}  batch {batch}  length {length}  {items / statistics.median(times):.1f} sentences/s")
