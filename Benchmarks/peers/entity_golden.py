"""The entity-metrics golden: seqeval's strict IOB2 scores (classification_report(mode="strict",
scheme=IOB2, zero_division=0)) on seeded random tag sequences, invalid transitions (I- after O or after
another type) included, as in a model's early predictions. kiln's test compares without the peer.
Usage: entity_golden.py OUT_JSON (scripts/entity-golden)."""
import json
import random
import sys

import seqeval
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

out_path = sys.argv[1]
rng = random.Random(16)
types = ["PER", "LOC", "ORG", "MISC"]
tags = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
cases = []
for case in range(12):
    sentences = rng.randint(1, 40)
    truth, predicted = [], []
    for _ in range(sentences):
        n = rng.randint(1, 25)
        # Truth mostly valid IOB2; predictions the truth with noise.
        t, prev = [], "O"
        for _ in range(n):
            r = rng.random()
            if r < 0.55:
                tag = "O"
            elif r < 0.75 or prev == "O":
                tag = "B-" + rng.choice(types)
            else:
                tag = "I-" + prev[2:] if rng.random() < 0.9 else rng.choice(tags)
            t.append(tag)
            prev = tag
        p = [tag if rng.random() < 0.75 else rng.choice(tags) for tag in t]
        truth.append(t)
        predicted.append(p)
    report = classification_report(truth, predicted, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    scores = {k: {m: round(float(v[m]), 12) for m in ("precision", "recall", "f1-score", "support")}
              for k, v in report.items()}
    cases.append({"truth": truth, "predicted": predicted, "report": scores})
with open(out_path, "w") as f:
    json.dump({"seqeval": seqeval.__version__ if hasattr(seqeval, "__version__") else "1.2.2", "tags": tags,
               "cases": cases}, f)
print(f"{len(cases)} cases -> {out_path}", file=sys.stderr)
