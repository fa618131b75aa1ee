"""The peer of kiln's text fine-tuning: the same split (read from the kiln workspace's cache), model,
tokenization and hyper-parameters, with transformers + PyTorch (and peft for LoRA). Prints one JSON line:
test accuracy, f1_macro and the wall-clock seconds of tokenization + training + evaluation.
  python text_finetune.py WORKSPACE DATASET CSV TEXT LABEL MODEL_DIR --epochs 3 --batch 32 --lr 5e-5
      [--lora RANK ALPHA DROPOUT] [--max-length 64] [--warmup-ratio 0.1] [--threads 2]"""
import argparse, csv, json, math, os, re, sys, time

import torch
from torch import nn
from transformers import AutoModel, BertTokenizerFast, get_linear_schedule_with_warmup

p = argparse.ArgumentParser()
for name in ["workspace", "dataset", "csv", "text", "label", "model"]:
    p.add_argument(name)
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--lr", type=float, default=5e-5)
p.add_argument("--weight-decay", type=float, default=0.01)
p.add_argument("--max-length", type=int, default=64)
p.add_argument("--warmup-ratio", type=float, default=0.1)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--lora", nargs=3, type=float)
p.add_argument("--classes", default="rotten,fresh")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

# kiln's split of this dataset: its split node's key in kiln.lock, its split.json in the cache.
lock = open(os.path.join(a.workspace, "kiln.lock")).read()
key = re.search(r"\[dataset/%s:split\]\nkey (\w+)" % re.escape(a.dataset), lock).group(1)
split = json.load(open(os.path.join(a.workspace, ".kiln", "cache", key[:2], key, "split.json")))["indices"]
rows = list(csv.DictReader(open(a.csv, encoding="utf-8")))
classes = a.classes.split(",")

start = time.time()
tokenizer = BertTokenizerFast.from_pretrained(a.model)
def encode(indices):
    texts = [rows[i][a.text] for i in indices]
    enc = tokenizer(texts, truncation=True, max_length=a.max_length)
    return enc["input_ids"], [classes.index(rows[i][a.label]) for i in indices]
train, validation, test = (encode(split[s]) for s in ["train", "validation", "test"])

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(a.model, add_pooling_layer=False)
        self.dropout = nn.Dropout(self.encoder.config.hidden_dropout_prob)
        self.classifier = nn.Linear(self.encoder.config.hidden_size, len(classes))
        nn.init.normal_(self.classifier.weight, std=self.encoder.config.initializer_range)
        nn.init.zeros_(self.classifier.bias)
    def forward(self, ids, mask):
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        pooled = (hidden * m).sum(1) / m.sum(1)  # mean over each sequence's own tokens
        return self.classifier(self.dropout(pooled))

model = Classifier()
if a.lora:
    from peft import LoraConfig, get_peft_model
    rank, alpha, dropout = a.lora
    config = LoraConfig(r=int(rank), lora_alpha=alpha, lora_dropout=dropout, target_modules=["query", "value"])
    model.encoder = get_peft_model(model.encoder, config)
params = [(n, q) for n, q in model.named_parameters() if q.requires_grad]
groups = [
    {"params": [q for n, q in params if not (n.endswith(".bias") or "LayerNorm.weight" in n)], "weight_decay": a.weight_decay},
    {"params": [q for n, q in params if n.endswith(".bias") or "LayerNorm.weight" in n], "weight_decay": 0.0},
]
optimizer = torch.optim.AdamW(groups, lr=a.lr, eps=1e-8)
steps = math.ceil(len(train[0]) / a.batch) * a.epochs
schedule = get_linear_schedule_with_warmup(optimizer, math.ceil(a.warmup_ratio * steps), steps)

def batch(ids, at):
    width = max(len(ids[i]) for i in at)
    x = torch.zeros(len(at), width, dtype=torch.long)
    m = torch.zeros(len(at), width, dtype=torch.long)
    for r, i in enumerate(at):
        x[r, : len(ids[i])] = torch.tensor(ids[i])
        m[r, : len(ids[i])] = 1
    return x, m

def evaluate(data):
    model.eval()
    ids, labels = data
    predicted = []
    with torch.no_grad():
        for s in range(0, len(ids), 32):
            at = list(range(s, min(s + 32, len(ids))))
            x, m = batch(ids, at)
            predicted += model(x, m).argmax(-1).tolist()
    model.train()
    accuracy = sum(int(p == y) for p, y in zip(predicted, labels)) / len(labels)
    f1s = []
    for c in range(len(classes)):
        tp = sum(1 for p, y in zip(predicted, labels) if p == c and y == c)
        fp = sum(1 for p, y in zip(predicted, labels) if p == c and y != c)
        fn = sum(1 for p, y in zip(predicted, labels) if p != c and y == c)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return accuracy, sum(f1s) / len(f1s)

loss_fn = nn.CrossEntropyLoss()
generator = torch.Generator().manual_seed(0)
model.train()
for epoch in range(a.epochs):
    order = torch.randperm(len(train[0]), generator=generator).tolist()
    for s in range(0, len(order), a.batch):
        at = order[s : s + a.batch]
        x, m = batch(train[0], at)
        y = torch.tensor([train[1][i] for i in at])
        loss = loss_fn(model(x, m), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([q for _, q in params], 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    val = evaluate(validation)
    print(json.dumps({"epoch": epoch + 1, "validation_accuracy": val[0]}), file=sys.stderr, flush=True)
accuracy, f1 = evaluate(test)
print(json.dumps({"test_accuracy": accuracy, "test_f1_macro": f1, "seconds": time.time() - start,
                  "train": len(train[0]), "test": len(test[0])}))
