"""The fine-tuning equivalence golden: all-MiniLM-L6-v2 in transformers/PyTorch (CPU, float32, dropout
off) with a sequence head on the pooler (BertForSequenceClassification, 3 labels) and a token head
(BertForTokenClassification, 5 labels, -100 on special tokens), on four sentences padded into one batch.
Records each head's initial weights, the loss and every parameter's gradient L2 norm after one backward,
a few gradient values, and for the sequence model the losses of three AdamW steps (lr 1e-4, weight decay
0.01 without biases and LayerNorm weights, clipping at 1, one warm-up step of a 4-step linear schedule)
and the logits after them. kiln's test compares without the peer.
Usage: bert_train_golden.py MODEL_FOLDER OUT_JSON (scripts/bert-train-golden)."""
import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
import torch  # noqa: E402
from bert_sentences import SENTENCES  # noqa: E402
from transformers import (AutoTokenizer, BertForSequenceClassification, BertForTokenClassification,  # noqa: E402
                          get_linear_schedule_with_warmup)
from transformers.utils import logging  # noqa: E402

logging.set_verbosity_error()
folder, out_path = sys.argv[1:]
torch.set_num_threads(1)
sentences = SENTENCES
tokenizer = AutoTokenizer.from_pretrained(folder)
batch = tokenizer(sentences, padding=True, truncation=True, max_length=128, return_tensors="pt")
lengths = batch["attention_mask"].sum(1).tolist()
ids = [batch["input_ids"][i][:n].tolist() for i, n in enumerate(lengths)]


def r(x, digits=8):
    return round(float(x.detach()) if hasattr(x, "detach") else float(x), digits)


def head_of(linear):
    return {"weight": [[r(x) for x in row] for row in linear.weight], "bias": [r(x) for x in linear.bias]}


def norms(model):
    out = {}
    for name, p in model.named_parameters():
        if p.grad is not None:
            out[name[5:] if name.startswith("bert.") else name] = r(p.grad.norm(), 9)
    return out


def fixed_head(linear, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=g) * 0.02)
        linear.bias.copy_(torch.randn(linear.bias.shape, generator=g) * 0.02)


result = {"model": "all-MiniLM-L6-v2", "torch": torch.__version__, "ids": ids}

# Sequence classification on the pooler.
model = BertForSequenceClassification.from_pretrained(folder, num_labels=3, hidden_dropout_prob=0.0,
                                                      attention_probs_dropout_prob=0.0)
fixed_head(model.classifier, 1)
model.train()
seq_labels = torch.tensor([0, 2, 1, 0])
sequence = {"head": head_of(model.classifier), "labels": seq_labels.tolist()}
out = model(**batch, labels=seq_labels)
out.loss.backward()
sequence["loss"] = r(out.loss, 9)
sequence["gradient_norms"] = norms(model)
grads = dict(model.named_parameters())
sequence["gradient_values"] = {
    "classifier.weight": [r(x, 10) for x in grads["classifier.weight"].grad[1][:6]],
    "encoder.layer.0.attention.self.query.weight": [r(x, 10) for x in grads["bert.encoder.layer.0.attention.self.query.weight"].grad[0][:6]],
    "embeddings.word_embeddings.weight": [r(x, 10) for x in grads["bert.embeddings.word_embeddings.weight"].grad[ids[0][1]][:6]],
}
no_decay = ("bias", "LayerNorm.weight")
named = list(model.named_parameters())
optimizer = torch.optim.AdamW([
    {"params": [p for n, p in named if not n.endswith(no_decay)], "weight_decay": 0.01},
    {"params": [p for n, p in named if n.endswith(no_decay)], "weight_decay": 0.0},
], lr=1e-4)
schedule = get_linear_schedule_with_warmup(optimizer, 1, 4)
losses = []
optimizer.zero_grad()
for step in range(3):
    out = model(**batch, labels=seq_labels)
    out.loss.backward()
    losses.append(r(out.loss, 9))
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad()
with torch.no_grad():
    logits = model(**batch).logits
sequence["step_losses"] = losses
sequence["logits_after"] = [[r(x, 8) for x in row] for row in logits]
result["sequence"] = sequence

# Token classification.
model = BertForTokenClassification.from_pretrained(folder, num_labels=5, hidden_dropout_prob=0.0,
                                                   attention_probs_dropout_prob=0.0)
fixed_head(model.classifier, 2)
model.train()
token_labels = torch.full(batch["input_ids"].shape, -100)
flat = []
for i, n in enumerate(lengths):
    for t in range(n):
        label = -100 if t == 0 or t == n - 1 else (i + 3 * t) % 5
        token_labels[i][t] = label
        flat.append(label)
out = model(**batch, labels=token_labels)
out.loss.backward()
result["token"] = {"head": head_of(model.classifier), "labels": flat, "loss": r(out.loss, 9),
                   "gradient_norms": norms(model)}
with open(out_path, "w") as f:
    json.dump(result, f)
print(f"-> {out_path}", file=sys.stderr)
