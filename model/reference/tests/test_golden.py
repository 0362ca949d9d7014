"""The committed golden vectors (tests/data) still match the reference: guards the C++ parity data
against drift in model.py / cache.py."""
from helpers import REPO  # first: sets the BLAS thread count before torch loads
import json
import os
import unittest

import torch

import safetensors_io as st
from cache import Session
from model import Numerics, Run

DATA = os.path.join(REPO, "tests", "data")


class GoldenTest(unittest.TestCase):
    def check(self, folder, model_dir):
        for name in ("golden", "golden_plain"):
            self.check_file(os.path.join(DATA, folder, f"{name}.safetensors"), model_dir)

    def check_file(self, gold_path, model_dir):
        folder = os.path.basename(os.path.dirname(gold_path))
        if not os.path.exists(gold_path) or not os.path.exists(os.path.join(model_dir, "model.safetensors")):
            self.skipTest(f"{folder}: golden vectors or model not present")
        model = st.load_model(model_dir)
        gold, meta = st.read(gold_path)
        g = {k: v for k, (_, v) in gold.items()}
        model.numerics = Numerics(kv_fp8=json.loads(meta["kv_fp8"]), indexer_fp4=json.loads(meta["indexer_fp4"]))
        tokens = g["tokens"].tolist()
        run = Run(model.numerics, trace=True)
        with torch.no_grad():
            logits = model(torch.tensor([tokens]), run)[0]
        pos = g["logit_positions"].long()
        self.assertLessEqual((logits[pos] - g["logits"]).abs().max().item(), 1e-4)
        for name, t in g.items():
            if name.endswith(".compressed") or name.endswith(".index_keys"):
                self.assertLessEqual((run.trace[name][0] - t).abs().max().item(), 1e-4, name)
            if name.endswith(".topk"):
                layer = name[:-len(".topk")]
                chosen = run.trace[layer + ".index_chosen"][0][g[layer + ".topk_positions"].long()]
                for row, sel in zip(chosen, t):
                    self.assertEqual(set(row.nonzero().flatten().tolist()), set(x for x in sel.tolist() if x >= 0))
        self.assertEqual(Session(model).generate(tokens, len(g["continuation"])), g["continuation"].tolist())

    def test_v4_flash_mini(self):
        self.check("v4-flash-mini", os.path.join(DATA, "v4-flash-mini"))

    def test_whale_tiny(self):
        self.check("whale-tiny", os.path.join(REPO, "models", "whale-tiny"))


if __name__ == "__main__":
    unittest.main()
