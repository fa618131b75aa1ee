"""The peer of kiln's token classification: the same split (read from the kiln workspace's cache), model,
tokenization (is_split_into_words, the tag on each word's first piece, -100 elsewhere), hyper-parameters and
early stopping, with transformers + PyTorch; entity scores by seqeval (strict IOB2), every word of every
sentence counted (a word cut by max_length is predicted O, as in kiln). Prints one JSON line.
  python ner_finetune.py WORKSPACE DATASET CONLL MODEL_DIR --epochs 5 --batch 16 --lr 1e-4 --patience 2"""
import argparse, json, math, os, re, sys, time

import torch
from torch import nn
from transformers import AutoModel, BertTokenizerFast, get_linear_schedule_with_warmup
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

p = argparse.ArgumentParser()
for name in ["workspace", "dataset", "conll", "model"]:
    p.add_argument(name)
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--lr", type=float, default=1e-4)
p.add_argument("--weight-decay", type=float, default=0.01)
p.add_argument("--max-length", type=int, default=64)
p.add_argument("--warmup-ratio", type=float, default=0.1)
p.add_argument("--patience", type=int, default=2)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

lock = open(os.path.join(a.workspace, "kiln.lock")).read()
key = re.search(r"\[dataset/%s:split\]\nkey (\w+)" % re.escape(a.dataset), lock).group(1)
split = json.load(open(os.path.join(a.workspace, ".kiln", "cache", key[:2], key, "split.json")))["indices"]
sentences, current = [], []
for line in open(a.conll, encoding="utf-8"):
    fields = line.rstrip("\r\n").split("\t") if "\t" in line else line.split()
    if not "".join(fields).strip():
        if current:
            sentences.append(current)
        current = []
        continue
    current.append((fields[0].strip(), fields[-1].strip()))
if current:
    sentences.append(current)
tags = sorted({t for s in sentences for _, t in s}, key=lambda t: (t != "O", t))
index = {t: i for i, t in enumerate(tags)}

start = time.time()
tokenizer = BertTokenizerFast.from_pretrained(a.model)
def encode(indices):
    out = []
    for i in indices:
        words = [w for w, _ in sentences[i]]
        enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=a.max_length)
        labels, last = [], None
        for w in enc.word_ids():
            labels.append(-100 if w is None or w == last else index[sentences[i][w][1]])
            last = w
        out.append((enc["input_ids"], labels, enc.word_ids(), [index[t] for _, t in sentences[i]]))
    return out
train, validation, test = (encode(split[s]) for s in ["train", "validation", "test"])

class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(a.model, add_pooling_layer=False)
        self.dropout = nn.Dropout(self.encoder.config.hidden_dropout_prob)
        self.classifier = nn.Linear(self.encoder.config.hidden_size, len(tags))
        nn.init.normal_(self.classifier.weight, std=self.encoder.config.initializer_range)
        nn.init.zeros_(self.classifier.bias)
    def forward(self, ids, mask):
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        return self.classifier(self.dropout(hidden))

model = Tagger()
params = list(model.named_parameters())
groups = [
    {"params": [q for n, q in params if not (n.endswith(".bias") or "LayerNorm.weight" in n)], "weight_decay": a.weight_decay},
    {"params": [q for n, q in params if n.endswith(".bias") or "LayerNorm.weight" in n], "weight_decay": 0.0},
]
optimizer = torch.optim.AdamW(groups, lr=a.lr, eps=1e-8)
steps = math.ceil(len(train) / a.batch) * a.epochs
schedule = get_linear_schedule_with_warmup(optimizer, math.ceil(a.warmup_ratio * steps), steps)

def batch(items):
    width = max(len(x[0]) for x in items)
    ids = torch.zeros(len(items), width, dtype=torch.long)
    mask = torch.zeros(len(items), width, dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    for r, (x, y, _, _) in enumerate(items):
        ids[r, : len(x)] = torch.tensor(x)
        mask[r, : len(x)] = 1
        labels[r, : len(y)] = torch.tensor(y)
    return ids, mask, labels

def evaluate(data):
    model.eval()
    truth, guess = [], []
    with torch.no_grad():
        for s in range(0, len(data), 32):
            items = data[s : s + 32]
            ids, mask, _ = batch(items)
            predicted = model(ids, mask).argmax(-1)
            for r, (_, _, words, gold) in enumerate(items):
                out = ["O"] * len(gold)
                last = None
                for t, w in enumerate(words):
                    if w is not None and w != last:
                        out[w] = tags[predicted[r, t].item()]
                    last = w
                truth.append([tags[g] for g in gold])
                guess.append(out)
    model.train()
    kw = dict(mode="strict", scheme=IOB2, zero_division=0)
    return f1_score(truth, guess, **kw), precision_score(truth, guess, **kw), recall_score(truth, guess, **kw)

loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
generator = torch.Generator().manual_seed(0)
best, since, epochs = None, 0, 0
model.train()
for epoch in range(a.epochs):
    order = torch.randperm(len(train), generator=generator).tolist()
    for s in range(0, len(order), a.batch):
        ids, mask, labels = batch([train[i] for i in order[s : s + a.batch]])
        logits = model(ids, mask)
        loss = loss_fn(logits.view(-1, len(tags)), labels.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_([q for _, q in params], 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    epochs += 1
    f1 = evaluate(validation)[0]
    print(json.dumps({"epoch": epoch + 1, "validation_entity_f1": f1}), file=sys.stderr, flush=True)
    if best is None or f1 > best:
        best, since = f1, 0
    else:
        since += 1
        if since >= a.patience:
            break
f1, precision, recall = evaluate(test)
print(json.dumps({"test_entity_f1": f1, "test_entity_precision": precision, "test_entity_recall": recall,
                  "epochs": epochs, "seconds": time.time() - start, "train": len(train), "test": len(test)}))
