"""Incremental decoding (cache.py) against the full-sequence forward, per layer kind."""
from helpers import small_config  # first: sets the BLAS thread count before torch loads
import unittest

import torch

from cache import Session
from model import Numerics, Transformer, init_weights

TOL = 1e-4


def max_diff(cfg, T, numerics, prefill=0, seed=0):
    model = init_weights(Transformer(cfg), seed).eval()
    model.numerics = numerics
    g = torch.Generator().manual_seed(seed)
    toks = torch.randint(0, cfg.vocab_size, (T,), generator=g).tolist()
    with torch.no_grad():
        full = model(torch.tensor([toks]))[0]
    s = Session(model)
    diff = (s.prefill(toks[:prefill]) - full[:prefill]).abs().max().item() if prefill else 0.0
    for t in range(prefill, T):
        diff = max(diff, (s.step(toks[t]) - full[t]).abs().max().item())
    return diff


class IncrementalTest(unittest.TestCase):
    """Sequences cross several compression blocks and wrap the window ring several times."""

    def check(self, name, ratios, T, **kw):
        for numerics in (Numerics(), Numerics(kv_fp8=True, indexer_fp4=True)):
            for prefill in (0, T // 2 + 1):
                d = max_diff(small_config(ratios, **kw), T, numerics, prefill)
                print(f"\n  {name:14s} fp8kv/fp4idx={numerics.kv_fp8!s:5s} prefill={prefill:3d}: "
                      f"max |logit diff| = {d:.2e}", end="")
                self.assertLessEqual(d, TOL)

    def test_sliding_window_only(self):
        self.check("sliding-window", [0, 0, 0], 70)

    def test_csa(self):   # 17 compressed entries, top-4 selected: the indexer really chooses
        self.check("CSA", [4, 4, 0], 70, hash_layers=0)

    def test_hca(self):   # ratio 16: 4 entries
        self.check("HCA", [16, 16, 0], 70, hash_layers=0)

    def test_mixed_flash_ratios(self):
        """Flash-like ratios at full size (window 128, CSA 4, HCA 128) over 3 HCA blocks."""
        cfg = small_config([0, 4, 128, 0], window=128, topk=16)
        d = max_diff(cfg, 3 * 128 + 20, Numerics(kv_fp8=True, indexer_fp4=True), prefill=200)
        print(f"\n  mixed (window 128, ratios 0/4/128), 404 tokens: max |logit diff| = {d:.2e}", end="")
        self.assertLessEqual(d, TOL)

    def test_prefill_refuses_a_started_sequence(self):
        model = init_weights(Transformer(small_config([0, 0])), 0)
        s = Session(model)
        s.step(5)
        with self.assertRaises(ValueError):
            s.prefill([1, 2, 3])


if __name__ == "__main__":
    unittest.main()
