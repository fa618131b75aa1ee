"""Writes the WordPiece golden: one JSON line per text with the ids and word ids Hugging Face `tokenizers`
gives (the tokenizer.json's truncation kept, padding off). Usage: tokenizer_golden.py WHEEL_DIR
TOKENIZER_JSON OUT (scripts/tokenizer-golden)."""
import json
import sys

from tokenizers import Tokenizer, __version__

from tokenizer_texts import texts

wheel_dir, tokenizer_json, out_path = sys.argv[1:]
tokenizer = Tokenizer.from_file(tokenizer_json)
tokenizer.no_padding()
items = texts(wheel_dir)
with open(out_path, "w", encoding="utf-8") as out:
    out.write(json.dumps({"tokenizers": __version__, "model": "all-MiniLM-L6-v2", "texts": len(items)}) + "\n")
    for text in items:
        e = tokenizer.encode(text)
        words = [-1 if w is None else w for w in e.word_ids]
        out.write(json.dumps({"text": text, "ids": e.ids, "words": words}, ensure_ascii=True) + "\n")
print(f"{len(items)} texts -> {out_path}", file=sys.stderr)
