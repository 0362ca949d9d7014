"""Incremental decoding with the cache semantics of the C++ engine (spec §6, §14.2):
per layer a ring of the last `sliding_window` raw KV entries (slot = t mod window), compressor
state rows (ratio 4: rows 0-3 previous block, 4-7 current block, each 2*width wide; ratio 128:
one row per in-block position), the append-only compressed entries and, for CSA layers, the
indexer compressor state and the indexer keys.

`Session.step(token)` processes one token; `Session.prefill(tokens)` runs the full-sequence
forward once and rebuilds exactly the state that stepping through the same tokens would leave.
Both are checked against the full forward in tests/test_cache.py."""

import torch

from model import Indexer, Run, attend, hc_post, hc_pre, topk_indices


class CompressorState:
    def __init__(self, comp):
        self.comp = comp
        rows = 2 * comp.ratio if comp.kappa == 2 else comp.ratio
        self.values = torch.zeros(rows, comp.kappa * comp.width)
        self.scores = torch.full((rows, comp.kappa * comp.width), float("-inf"))
        self.entries = torch.zeros(0, comp.width)

    def row(self, t):
        m = self.comp.ratio
        return m + t % m if self.comp.kappa == 2 else t % m

    def push(self, t, A, G, angles_fn, numerics):
        """Store token t's projections; emit entry t // m when the token completes a block."""
        comp, m, w = self.comp, self.comp.ratio, self.comp.width
        r = self.row(t)
        self.values[r], self.scores[r] = A, G
        if (t + 1) % m:
            return
        if comp.kappa == 2:
            values = torch.cat([self.values[:m, :w], self.values[m:, w:]], 0)
            logits = torch.cat([self.scores[:m, :w], self.scores[m:, w:]], 0)
        else:
            values, logits = self.values, self.scores
        pooled = (logits.softmax(0) * values).sum(0)
        j = t // m
        entry = comp.finish(pooled[None], torch.tensor([j * m]), angles_fn, numerics)
        self.entries = torch.cat([self.entries, entry], 0)
        if comp.kappa == 2:   # the current block becomes the previous one
            self.values[:m], self.scores[:m] = self.values[m:].clone(), self.scores[m:].clone()

    def rebuild(self, A, G, T):
        """State after tokens 0..T-1 given their projections A, G [T, k*w] (prefill)."""
        m = self.comp.ratio
        start = (T // m) * m
        if self.comp.kappa == 2 and T >= m:
            self.values[:m], self.scores[:m] = A[start - m:start], G[start - m:start]
        for t in range(start, T):
            r = self.row(t)
            self.values[r], self.scores[r] = A[t], G[t]


class LayerCache:
    def __init__(self, attn):
        cfg = attn.cfg
        self.attn = attn
        self.ring = torch.zeros(cfg.sliding_window, cfg.head_dim)
        self.ring_pos = torch.full((cfg.sliding_window,), -1, dtype=torch.int64)
        self.main = CompressorState(attn.compressor) if attn.ratio else None
        self.index = CompressorState(attn.indexer.compressor) if attn.ratio == 4 else None
        self.last_topk = None

    def step(self, a, t, numerics):
        """Attention output for one token at position t (a: [d], the normalised input)."""
        attn, cfg = self.attn, self.attn.cfg
        ang = attn.angles(torch.tensor([t]))[0]
        cq, q = attn.query(a, ang)
        kv = attn.key_value(a, ang, numerics)
        slot = t % cfg.sliding_window
        self.ring[slot], self.ring_pos[slot] = kv, t
        keys, valid = self.ring, self.ring_pos >= 0
        if self.main is not None:
            pos = torch.tensor(t)
            A, G = attn.compressor.project(a, pos)
            self.main.push(t, A, G, attn.angles, numerics)
            chosen = torch.ones(len(self.main.entries), dtype=torch.bool)
            if self.index is not None:
                A, G = attn.indexer.compressor.project(a, pos)
                self.index.push(t, A, G, attn.angles, numerics)
                qi, w = attn.indexer.queries(cq, a, ang, numerics)
                scores = Indexer.scores(qi[None], w[None], self.index.entries)[0]
                k = min(cfg.index_topk, len(scores))
                top = topk_indices(scores, k)
                chosen = torch.zeros(len(scores), dtype=torch.bool)
                chosen[top] = True
                self.last_topk = (top.sort().values, scores)
            keys = torch.cat([keys, self.main.entries], 0)
            valid = torch.cat([valid, chosen], 0)
        o, _ = attend(q, keys, valid, attn.attn_sink, attn.scale)
        return attn.output(o, ang)

    def rebuild(self, trace, T):
        lid, cfg = self.attn.layer_id, self.attn.cfg
        kv = trace[f"layers.{lid}.kv"][0]
        for t in range(max(0, T - cfg.sliding_window), T):
            slot = t % cfg.sliding_window
            self.ring[slot], self.ring_pos[slot] = kv[t], t
        if self.main is not None:
            A, G = trace[f"layers.{lid}.compressor_in"]
            self.main.rebuild(A[0], G[0], T)
            self.main.entries = trace[f"layers.{lid}.compressed"][0]
        if self.index is not None:
            A, G = trace[f"layers.{lid}.index_compressor_in"]
            self.index.rebuild(A[0], G[0], T)
            self.index.entries = trace[f"layers.{lid}.index_keys"][0]


class Session:
    """One sequence being decoded (main model only; MTP is not used for generation)."""

    def __init__(self, model):
        self.model = model
        self.cfg = model.cfg
        self.layers = [LayerCache(b.attn) for b in model.layers]
        self.pos = 0

    @torch.no_grad()
    def step(self, token):
        """Feed one token; returns the FP32 logits for the next one."""
        model, cfg = self.model, self.cfg
        tok = torch.tensor([token])
        X = model.embed(tok)[0].expand(cfg.hc_mult, -1)
        for block, cache in zip(model.layers, self.layers):
            u, post, P = hc_pre(X, *block.hc("attn"), cfg)
            X = hc_post(cache.step(block.attn_norm(u), self.pos, model.numerics), X, post, P)
            u, post, P = hc_pre(X, *block.hc("ffn"), cfg)
            X = hc_post(block.ffn(block.ffn_norm(u)[None], tok)[0], X, post, P)
        self.pos += 1
        return model.logits(X)

    @torch.no_grad()
    def prefill(self, tokens):
        """Process a prompt from position 0 in one full forward; returns logits [T, vocab]."""
        if self.pos:
            raise ValueError("prefill starts a sequence; use step() to continue one")
        T = len(tokens)
        if T == 0:
            return torch.zeros(0, self.cfg.vocab_size)
        run = Run(self.model.numerics, trace=True)
        logits = self.model(torch.tensor([tokens]), run)[0]
        for cache in self.layers:
            cache.rebuild(run.trace, T)
        self.pos = T
        return logits

    @torch.no_grad()
    def generate(self, prompt, max_new, stop=None):
        """Greedy continuation of a prompt (list of ids); stops after `stop` if given."""
        logits = self.prefill(prompt)[-1]
        out = []
        for _ in range(max_new):
            nxt = int(logits.argmax())
            out.append(nxt)
            if nxt == stop:
                break
            logits = self.step(nxt)
        return out
