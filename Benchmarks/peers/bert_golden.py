"""The BERT equivalence golden: all-MiniLM-L6-v2 in transformers/PyTorch (CPU, eval, float32) on a few
sentences batched together with padding; per sentence the ids, the last hidden state at its own tokens
and the masked-mean embedding. kiln's test compares its forward pass with it, without the peer.
Usage: bert_golden.py MODEL_FOLDER OUT_JSON (scripts/bert-golden)."""
import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
import torch  # noqa: E402
from bert_sentences import SENTENCES  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

folder, out_path = sys.argv[1:]
torch.manual_seed(0)
torch.set_num_threads(1)
sentences = SENTENCES
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModel.from_pretrained(folder).eval()
batch = tokenizer(sentences, padding=True, truncation=True, max_length=128, return_tensors="pt")
# Classification heads of fixed random weights (a sequence head on the pooler, a token head on the
# hidden states): kiln, given the same weights, must give the same logits and the same argmax.
sequence_head = torch.nn.Linear(model.config.hidden_size, 3)
token_head = torch.nn.Linear(model.config.hidden_size, 5)
with torch.no_grad():
    output = model(**batch)
    hidden = output.last_hidden_state
    sequence_logits = sequence_head(output.pooler_output)
    token_logits = token_head(hidden)
mask = batch["attention_mask"].unsqueeze(-1).float()
pooled = (hidden * mask).sum(1) / mask.sum(1)
items = []
for i, s in enumerate(sentences):
    n = int(batch["attention_mask"][i].sum())
    items.append({
        "text": s,
        "ids": batch["input_ids"][i][:n].tolist(),
        "hidden": [[round(float(x), 7) for x in row] for row in hidden[i][:n]],
        "pooled": [round(float(x), 7) for x in pooled[i]],
        "sequence_logits": [round(float(x), 7) for x in sequence_logits[i]],
        "token_logits": [[round(float(x), 7) for x in row] for row in token_logits[i][:n]],
    })
with open(out_path, "w") as f:
    heads = {
        name: {"weight": [[round(float(x), 8) for x in row] for row in h.weight], "bias": [round(float(x), 8) for x in h.bias]}
        for name, h in [("sequence", sequence_head), ("token", token_head)]
    }
    json.dump({"model": "all-MiniLM-L6-v2", "torch": torch.__version__, "heads": heads, "sentences": items}, f)
print(f"{len(items)} sentences -> {out_path}", file=sys.stderr)
