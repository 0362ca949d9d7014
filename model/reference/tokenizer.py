"""Byte-level BPE: trainer, encoder/decoder, and HF `tokenizer.json` writer/reader with the same
structure as DeepSeek-V4's (model BPE, Sequence[Split digits, Split CJK, Split words, ByteLevel]
pre-tokenizer, special tokens as added_tokens), so one loader serves this file and a real V4 one."""

import heapq
import json
from collections import Counter, defaultdict

import regex

import encoding

DIGITS = r"\p{N}{1,3}"
CJK = "[一-龥\u3040-ゟ゠-ヿ]+"
# The word split, selectable because it decides how a name copies. "v4": V4's own, words carry
# the space before them (" juniper"). "trailing-space": words and punctuation runs carry the
# space after them, never one before, so a name splits into the same pieces wherever it stands;
# with "v4" the request's " jun|i|per68.out" and the DSML argument's "j|un|i|per68.out" (after
# '">') differ, in 57 of 229 held-out names. Costs 9 % more tokens per conversation.
WORD_SPLITS = {
    "v4": (r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|"
           r" ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
    "trailing-space": r"[\p{L}\p{M}]+[^\S\r\n]?|[\p{P}\p{S}]+[^\S\r\n]?|\s*[\r\n]+|[^\S\r\n]+",
}

# Ids of the first special tokens follow V4 (BOS 0, EOS 1, pad 2); the rest go after the merges.
HEAD_SPECIALS = [encoding.BOS, encoding.EOS, "<｜▁pad▁｜>"]


def bytes_to_unicode():
    """The GPT-2 byte <-> printable-character table used by HF's ByteLevel."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_CHARS = bytes_to_unicode()
CHAR_BYTES = {c: b for b, c in BYTE_CHARS.items()}


def split_isolated(pieces, pattern):
    out = []
    for piece in pieces:
        pos = 0
        for m in pattern.finditer(piece):
            if m.start() > pos:
                out.append(piece[pos:m.start()])
            if m.end() > m.start():
                out.append(m.group())
            pos = m.end()
        if pos < len(piece):
            out.append(piece[pos:])
    return out


def compile_splits(words):
    return [regex.compile(p) for p in (DIGITS, CJK, words)]


V4_SPLITS = compile_splits(WORD_SPLITS["v4"])


def pretokenize(text, splits=None):
    """Text without special tokens -> byte-level pieces (splits: compile_splits(); V4's by default)."""
    pieces = [text]
    for pattern in splits or V4_SPLITS:
        pieces = split_isolated(pieces, pattern)
    return ["".join(BYTE_CHARS[b] for b in p.encode("utf-8")) for p in pieces]


class Tokenizer:
    def __init__(self, vocab, merges, added, words=WORD_SPLITS["v4"]):
        self.words = words                                   # the word-split regex
        self.splits = compile_splits(words)
        self.vocab = vocab                                   # byte-level string -> id
        self.merges = merges                                 # list of (a, b)
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.added = added                                   # special string -> id
        self.id_to_token = {i: t for t, i in vocab.items()}
        self.id_to_token.update({i: t for t, i in added.items()})
        self.special_re = regex.compile("|".join(regex.escape(t) for t in sorted(added, key=len, reverse=True)))
        self.cache = {}

    @property
    def vocab_size(self):
        return max(self.id_to_token) + 1

    def bpe(self, piece):
        if piece in self.cache:
            return self.cache[piece]
        parts = list(piece)
        while len(parts) > 1:
            ranked = [(self.ranks.get((parts[i], parts[i + 1]), 1 << 30), i) for i in range(len(parts) - 1)]
            rank, i = min(ranked)
            if rank == 1 << 30:
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        ids = [self.vocab[p] for p in parts]
        self.cache[piece] = ids
        return ids

    def encode(self, text):
        ids, pos = [], 0
        for m in self.special_re.finditer(text):
            for piece in pretokenize(text[pos:m.start()], self.splits):
                ids += self.bpe(piece)
            ids.append(self.added[m.group()])
            pos = m.end()
        for piece in pretokenize(text[pos:], self.splits):
            ids += self.bpe(piece)
        return ids

    def decode(self, ids):
        out, buf = [], []
        for i in ids:
            tok = self.id_to_token.get(int(i))
            if tok is None:
                raise ValueError(f"token id {i} is out of range")
            if tok in self.added:
                out.append(bytes(buf).decode("utf-8", errors="replace"))
                buf = []
                out.append(tok)
            else:
                buf += [CHAR_BYTES[c] for c in tok]
        out.append(bytes(buf).decode("utf-8", errors="replace"))
        return "".join(out)

    # --- HF tokenizer.json -------------------------------------------------------------------
    def to_json(self):
        split = lambda p: {"type": "Split", "pattern": {"Regex": p}, "behavior": "Isolated", "invert": False}
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                              "normalized": False, "special": True}
                             for t, i in sorted(self.added.items(), key=lambda x: x[1])],
            "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                split(DIGITS), split(CJK), split(self.words),
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "vocab": dict(sorted({**self.vocab, **self.added}.items(), key=lambda x: x[1])),
                      "merges": [f"{a} {b}" for a, b in self.merges]},
        }

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, ensure_ascii=False, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        added = {t["content"]: t["id"] for t in j["added_tokens"]}
        vocab = {t: i for t, i in j["model"]["vocab"].items() if t not in added}
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in j["model"]["merges"]]
        words = j["pre_tokenizer"]["pretokenizers"][2]["pattern"]["Regex"]
        return cls(vocab, merges, added, words)


def train(texts, vocab_size, word_split=WORD_SPLITS["v4"]):
    """Train merges on texts (special tokens are cut out first and never merged); word_split:
    the word-split regex (a WORD_SPLITS value)."""
    splits = compile_splits(word_split)
    tail_specials = [t for t in encoding.SPECIAL_TOKENS if t not in HEAD_SPECIALS]
    n_merges = vocab_size - len(HEAD_SPECIALS) - 256 - len(tail_specials)
    if n_merges < 0:
        raise ValueError(f"vocab_size {vocab_size} too small")
    special_re = regex.compile("|".join(regex.escape(t) for t in encoding.SPECIAL_TOKENS))
    freq = Counter()
    for text in texts:
        for chunk in special_re.split(text):
            freq.update(pretokenize(chunk, splits))
    words = [list(w) for w in freq]
    counts = list(freq.values())
    pairs, where = Counter(), defaultdict(set)
    for wi, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pairs[a, b] += counts[wi]
            where[a, b].add(wi)
    heap = [(-c, p) for p, c in pairs.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        c, p = heapq.heappop(heap)
        if -c != pairs.get(p, 0) or c == 0:
            continue
        merges.append(p)
        a, b = p
        touched = Counter()
        for wi in list(where[p]):
            w = words[wi]
            i, new = 0, []
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    new.append(a + b)
                    i += 2
                else:
                    new.append(w[i])
                    i += 1
            for x, y in zip(w, w[1:]):
                pairs[x, y] -= counts[wi]
                touched[x, y] += 1
            for x, y in zip(new, new[1:]):
                pairs[x, y] += counts[wi]
                where[x, y].add(wi)
                touched[x, y] += 1
            words[wi] = new
        for q in touched:
            if pairs.get(q, 0) > 0:
                heapq.heappush(heap, (-pairs[q], q))
        pairs.pop(p, None)
        where.pop(p, None)
    vocab = {t: i for i, t in enumerate(HEAD_SPECIALS)}
    for b in range(256):
        vocab[BYTE_CHARS[b]] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    added = {t: i for i, t in enumerate(HEAD_SPECIALS)}
    for t in tail_specials:
        added[t] = len(vocab) + len(added) - len(HEAD_SPECIALS)
    for t in HEAD_SPECIALS:
        del vocab[t]
    return Tokenizer(vocab, merges, added, word_split)
