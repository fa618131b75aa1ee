"""The four sentences of the BERT goldens (forward and fine-tuning): lengths from 3 to 25 tokens, accents,
CJK and punctuation, padded together into one batch."""
SENTENCES = [
    "The movie was surprisingly good.",
    "Kiln compiles declarative pipeline specs, runs them with a cache, and versions every model in git.",
    "Où est la bibliothèque ? 图书馆在哪里？",
    "ok",
]
