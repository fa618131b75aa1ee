"""Fine-tuning steps of all-MiniLM-L6-v2 in PyTorch (transformers' BertForSequenceClassification, eager,
train mode with its dropout), the same settings as kiln-bench-bert --train: batch 16 at lengths 128 and 64,
2 labels, AdamW (lr 5e-5, weight decay 0.01 without biases and LayerNorm weights), linear warm-up and
decay, clipping at 1; with `lora`, peft's LoRA (rank 8, alpha 16, dropout 0.1, query and value).
Median samples/s over ROUNDS rounds of 4 steps after 5 warm-up steps, and peak resident memory.
Usage: bert_train_bench.py MODEL_FOLDER IDS_JSON THREADS ROUNDS [lora]"""
import json
import os
import resource
import statistics
import sys
import time

folder, ids_path, threads, rounds = sys.argv[1:5]
lora = len(sys.argv) > 5 and sys.argv[5] == "lora"
threads, rounds = int(threads), int(rounds)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["OMP_NUM_THREADS"] = str(threads)
import torch  # noqa: E402
from transformers import BertForSequenceClassification, get_linear_schedule_with_warmup  # noqa: E402
from transformers.utils import logging  # noqa: E402

logging.set_verbosity_error()
torch.set_num_threads(threads)
torch.manual_seed(1)
with open(ids_path) as f:
    all_ids = json.load(f)
batch = 16
for length in [128, 64]:
    model = BertForSequenceClassification.from_pretrained(folder, num_labels=2)
    if lora:
        from peft import LoraConfig, TaskType, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=0.1, target_modules=["query", "value"]))
    model.train()
    no_decay = ("bias", "LayerNorm.weight")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if not n.endswith(no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in named if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=5e-5)
    schedule = get_linear_schedule_with_warmup(optimizer, 2, 1000)
    ids = [s[: length - 1] + [s[-1]] for s in all_ids]
    batches = []
    for i in range(8):
        start = (i * batch) % (len(ids) - batch)
        batches.append((torch.tensor(ids[start:start + batch]), torch.tensor([(j + i) % 2 for j in range(batch)])))
    step_index = [0]

    def step():
        x, y = batches[step_index[0] % 8]
        step_index[0] += 1
        out = model(input_ids=x, attention_mask=torch.ones_like(x), labels=y)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=False)

    for _ in range(5):
        step()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(4):
            step()
        times.append((time.perf_counter() - start) / 4)
    median = statistics.median(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
    name = "torch+peft" if lora else "torch"
    print(f"{name}  train{' lora' if lora else ''}  threads {threads}  batch {batch}  length {length}  "
          f"{batch / median:.2f} samples/s  step {median * 1e3:.1f} ms  peak {peak} MiB")
