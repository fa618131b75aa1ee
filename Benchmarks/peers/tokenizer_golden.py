"""Writes the WordPiece goldens: one JSON line per text with the ids and word ids Hugging Face `tokenizers`
gives (the tokenizer.json's truncation kept, padding off); and, with SPLIT_OUT, the same for texts already
split into words (`is_pretokenized`, as token classification encodes a CoNLL sentence): WNUT-16 tweets as
their token lists and generated word lists with odd words. Usage: tokenizer_golden.py WHEEL_DIR
TOKENIZER_JSON OUT [SPLIT_OUT] (scripts/tokenizer-golden)."""
import json
import sys

from tokenizers import Tokenizer, __version__

import random

from tokenizer_texts import ODD, EMOJI, CJK, ACCENTED, texts, tweet_tokens

wheel_dir, tokenizer_json, out_path = sys.argv[1:4]
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

if len(sys.argv) > 4:
    rng = random.Random(17)
    lists = rng.sample(tweet_tokens(wheel_dir), 1000)
    odd = ODD + EMOJI + CJK + ACCENTED + ["", " ", "a b", "[CLS]", "don't", "U.S.A."]
    for _ in range(200):
        lists.append([rng.choice(odd) for _ in range(rng.randint(1, 12))])
    lists.append(["word"] * 200)
    with open(sys.argv[4], "w", encoding="utf-8") as out:
        out.write(json.dumps({"tokenizers": __version__, "model": "all-MiniLM-L6-v2", "lists": len(lists)}) + "\n")
        for words in lists:
            e = tokenizer.encode(words, is_pretokenized=True)
            ids_words = [-1 if w is None else w for w in e.word_ids]
            out.write(json.dumps({"words": words, "ids": e.ids, "word_ids": ids_words}, ensure_ascii=True) + "\n")
    print(f"{len(lists)} word lists -> {sys.argv[4]}", file=sys.stderr)
