from helpers import small_config  # first: sets the BLAS thread count before torch loads
import json
import os
import struct
import tempfile
import unittest

import torch

import safetensors_io as st
from model import Transformer, init_weights


class FormatTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="st-test-")

    def test_write_read_round_trip_and_layout(self):
        path = os.path.join(self.dir, "a.safetensors")
        a = torch.arange(6, dtype=torch.float32).view(2, 3)
        b = torch.tensor([1.5, -2.0]).to(torch.bfloat16)
        c = torch.tensor([[7, 9]], dtype=torch.uint8)
        st.write(path, [("a", "F32", a), ("b", "BF16", b), ("c", "F8_E4M3", c)], {"k": "v"})
        with open(path, "rb") as f:
            raw = f.read()
        (n,) = struct.unpack("<Q", raw[:8])
        self.assertEqual(n % 8, 0)
        header = json.loads(raw[8:8 + n])
        self.assertEqual(header["a"], {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]})
        self.assertEqual(header["__metadata__"], {"k": "v"})
        self.assertEqual(raw[8 + n:8 + n + 4], struct.pack("<f", 0.0))
        tensors, meta = st.read(path)
        self.assertTrue(torch.equal(tensors["a"][1], a))
        self.assertTrue(torch.equal(tensors["b"][1], b))
        self.assertEqual(tensors["c"][0], "F8_E4M3")
        self.assertTrue(torch.equal(tensors["c"][1], c))
        self.assertEqual(meta, {"k": "v"})

    def test_bad_files_raise_clear_errors(self):
        path = os.path.join(self.dir, "bad.safetensors")
        h = lambda j: struct.pack("<Q", len(j)) + j
        for blob, msg in ((b"abc", "too short"), (struct.pack("<Q", 1000) + b"{}", "exceeds"),
                          (h(b"{x"), "not valid JSON"),
                          (h(b'{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}') + bytes(8), "inconsistent offsets"),
                          (h(b'{"t":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}}') + bytes(1), "unsupported")):
            with open(path, "wb") as f:
                f.write(blob)
            with self.assertRaisesRegex(ValueError, msg):
                st.read(path)


class ModelStorageTest(unittest.TestCase):
    def test_formats(self):
        cfg = small_config([0, 4, 16, 0], hidden_size=128, q_lora_rank=64)
        model = init_weights(Transformer(cfg), 3).eval()
        toks = torch.randint(0, cfg.vocab_size, (1, 40), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            ref = model(toks)
        d = tempfile.mkdtemp(prefix="st-model-")
        # Logit error relative to the logits (norms): the largest single difference is no measure,
        # since a rounded weight can flip an indexer top-k choice and move one position a lot
        # (over 30 random inputs: BF16 0.011-0.87 max abs, at most 4.5 % relative; FP8 at most 10.5 %).
        for fmt, tol in (("fp32", 0.0), ("bf16", 0.1), ("fp8", 0.25)):
            st.save_model(model, os.path.join(d, fmt), fmt)
            loaded = st.load_model(os.path.join(d, fmt))
            with torch.no_grad():
                rel = ((loaded(toks) - ref).norm() / ref.norm()).item()
            self.assertLessEqual(rel, tol, fmt)
        tensors, meta = st.read(os.path.join(d, "fp8", "model.safetensors"))
        self.assertEqual(meta["storage"], "fp8")
        self.assertEqual(tensors["layers.0.attn.wq_b.weight"][0], "F8_E4M3")
        self.assertEqual(tuple(tensors["layers.0.attn.wq_b.scale"][1].shape), (2, 1))
        self.assertEqual(tensors["layers.0.ffn.experts.1.w1.weight"][0], "I8")
        self.assertEqual(tuple(tensors["layers.0.ffn.experts.1.w1.weight"][1].shape), (32, 64))
        self.assertEqual(tuple(tensors["layers.0.ffn.experts.1.w1.scale"][1].shape), (32, 4))
        self.assertEqual(tensors["layers.1.attn.compressor.wkv.weight"][0], "BF16")
        self.assertEqual(tensors["layers.0.ffn.gate.tid2eid"][0], "I64")
        self.assertEqual(tensors["mtp.0.hc_head_fn"][0], "F32")

    def test_mismatched_checkpoint_is_reported(self):
        d = tempfile.mkdtemp(prefix="st-mismatch-")
        st.save_model(init_weights(Transformer(small_config([0, 0])), 0), d, "fp32")
        small_config([0, 4, 0]).save(os.path.join(d, "config.json"))
        with self.assertRaisesRegex(ValueError, "does not match the config"):
            st.load_model(d)


if __name__ == "__main__":
    unittest.main()
