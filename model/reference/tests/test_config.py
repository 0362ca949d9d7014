from helpers import SHARED, small_config, Config  # first: sets the BLAS thread count before torch loads
import json
import os
import unittest

from config import plan, logical_tensors, stored_tensors
from model import Transformer

V4 = os.path.join(SHARED, "testdata", "v4")


class PlanTest(unittest.TestCase):
    def load(self, name):
        path = os.path.join(V4, f"deepseek-v4-{name}.config.json")
        if not os.path.exists(path):
            self.skipTest(f"{path} not present (shared test data)")
        return Config.load(path)

    def test_flash_matches_spec_tables(self):
        p = plan(self.load("flash"))
        print(f"\nV4-Flash: {p['params_total']/1e9:.2f} B total, {p['params_active']/1e9:.2f} B active, "
              f"{p['kv_bytes_per_token']:.0f} B/token KV at 1M")
        self.assertAlmostEqual(p["params_total"] / 1e9, 284.3, delta=0.5)
        self.assertAlmostEqual(p["params_mtp"] / 1e9, 6.6, delta=0.1)
        self.assertAlmostEqual(p["params_active"] / 1e9, 13.0, delta=0.5)
        self.assertEqual(p["layers"], {"swa": 2, "csa": 21, "hca": 20})
        self.assertEqual(round(p["kv_bytes_per_token"]), 3517)           # spec §14.3: 3,517 B/token
        self.assertAlmostEqual(p["kv_bytes_at_context"] / 2**30, 3.44, delta=0.01)
        self.assertEqual(round(p["kv_bytes_per_token_reference_bf16"]), 6885)

    def test_pro_matches_spec_tables(self):
        p = plan(self.load("pro"))
        print(f"\nV4-Pro: {p['params_total']/1e9:.2f} B total, {p['params_active']/1e9:.2f} B active, "
              f"{p['kv_bytes_per_token']:.0f} B/token KV at 1M")
        self.assertAlmostEqual(p["params_total"] / 1e12, 1.6, delta=0.05)
        self.assertAlmostEqual(p["params_active"] / 1e9, 49, delta=1)
        self.assertEqual(p["layers"], {"swa": 0, "csa": 30, "hca": 31})
        self.assertEqual(round(p["kv_bytes_per_token"]), 5036)
        self.assertEqual(round(p["kv_bytes_per_token_reference_bf16"]), 9856)

    def test_pro_shapes_from_tensor_dump(self):
        """A few shapes of spec §15 (confirmed from the Pro tensor dump)."""
        shapes = {n: (s, d) for n, s, d in stored_tensors(self.load("pro"))}
        self.assertEqual(shapes["layers.5.attn.wq_b.weight"], ((65536, 1536), "F8_E4M3"))
        self.assertEqual(shapes["layers.5.attn.wq_b.scale"], ((512, 12), "F8_E8M0"))
        self.assertEqual(shapes["layers.5.ffn.experts.7.w1.weight"], ((3072, 3584), "I8"))
        self.assertEqual(shapes["layers.5.ffn.experts.7.w2.scale"], ((7168, 96), "F8_E8M0"))
        self.assertEqual(shapes["layers.0.attn.compressor.ape"], ((128, 512), "F32"))
        self.assertEqual(shapes["layers.4.attn.indexer.compressor.ape"], ((4, 256), "F32"))
        self.assertEqual(shapes["layers.1.ffn.gate.tid2eid"], ((129280, 6), "I64"))
        self.assertNotIn("layers.1.ffn.gate.bias", shapes)
        self.assertIn("layers.3.ffn.gate.bias", shapes)

    def test_model_parameters_are_the_official_names(self):
        cfg = small_config([0, 4, 16, 0], hash_layers=1)
        model = Transformer(cfg)
        planned = {n: s for n, s, _ in logical_tensors(cfg)}
        actual = {n: tuple(t.shape) for n, t in model.state_dict().items()}
        self.assertEqual(planned, actual)

    def test_config_round_trip_and_errors(self):
        cfg = small_config([0, 4, 16, 0])
        d = json.loads(json.dumps(cfg.to_dict()))
        self.assertEqual(Config.from_dict(d).to_dict(), d)
        with self.assertRaisesRegex(ValueError, "compress_ratios has 3 entries"):
            small_config([0, 4, 0], num_hidden_layers=3)
        with self.assertRaisesRegex(ValueError, "o_groups"):
            small_config([0, 0], o_groups=3)


if __name__ == "__main__":
    unittest.main()
