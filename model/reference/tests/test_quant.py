import helpers  # noqa: F401
import math
import unittest

import torch

import quant


class Fp8Test(unittest.TestCase):
    def test_all_codes_round_trip(self):
        codes = torch.tensor([c for c in range(256) if c & 0x7F != 0x7F], dtype=torch.uint8)
        values = quant.fp8_decode(codes)
        self.assertTrue(torch.equal(quant.round_fp8(values), values))
        back = quant.fp8_encode(values)
        nonzero = values != 0
        self.assertTrue(torch.equal(back[nonzero], codes[nonzero]))
        self.assertEqual(values.max().item(), 448.0)
        self.assertEqual(quant.fp8_decode(torch.tensor([1], dtype=torch.uint8)).item(), 2.0 ** -9)
        self.assertTrue(math.isnan(quant.fp8_decode(torch.tensor([0x7F], dtype=torch.uint8)).item()))

    def test_rounding_is_nearest_even_and_saturating(self):
        x = torch.tensor([1.0625, 1.1875, 500.0, -1000.0, 0.1, 2.0 ** -10, 3 * 2.0 ** -11])
        # 1.0625 is halfway between 1 and 1.125 -> even mantissa (1.0); 1.1875 -> 1.25
        want = torch.tensor([1.0, 1.25, 448.0, -448.0, 0.1015625, 0.0, 2.0 ** -9])
        self.assertTrue(torch.equal(quant.round_fp8(x), want), quant.round_fp8(x))

    def test_weight_blocks_use_power_of_two_scales(self):
        g = torch.Generator().manual_seed(0)
        w = torch.randn(300, 260, generator=g)
        w[:128, :128] *= 100      # one block with a much larger range
        codes, scales = quant.quantize_fp8_weight(w)
        self.assertEqual(tuple(scales.shape), (3, 3))
        s = quant.e8m0_decode(scales)
        self.assertTrue(torch.equal(torch.log2(s), torch.log2(s).round()))
        back = quant.dequantize_fp8_weight(codes, scales)
        rel = ((back - w).abs() / w.abs().clamp(min=1e-3)).median()
        self.assertLess(rel.item(), 0.04)
        self.assertLessEqual((back[:128, :128] / s[0, 0]).abs().max().item(), 448)


class Fp4Test(unittest.TestCase):
    def test_grid_and_ties(self):
        x = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0, -0.3, -5.1])
        want = torch.tensor([0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 6.0, -0.5, -6.0])
        self.assertTrue(torch.equal(quant.round_fp4(x), want), quant.round_fp4(x))

    def test_pack_low_nibble_first(self):
        w = torch.zeros(1, 32)
        w[0, 0], w[0, 1] = 6.0, -0.5      # codes 7 and 9
        packed, scales = quant.quantize_fp4_weight(w)
        self.assertEqual(packed.view(torch.uint8)[0, 0].item(), 7 | (9 << 4))
        self.assertEqual(quant.e8m0_decode(scales)[0, 0].item(), 1.0)
        self.assertTrue(torch.equal(quant.dequantize_fp4_weight(packed, scales), w))

    def test_weight_round_trip(self):
        w = torch.randn(64, 96, generator=torch.Generator().manual_seed(1))
        packed, scales = quant.quantize_fp4_weight(w)
        self.assertEqual(tuple(packed.shape), (64, 48))
        self.assertEqual(tuple(scales.shape), (64, 3))
        back = quant.dequantize_fp4_weight(packed, scales)
        self.assertTrue(torch.equal(quant.round_fp4(back / quant.e8m0_decode(scales).repeat_interleave(32, 1)),
                                    back / quant.e8m0_decode(scales).repeat_interleave(32, 1)))
        self.assertLess(((back - w).norm() / w.norm()).item(), 0.2)

    def test_bad_shapes_are_reported(self):
        with self.assertRaisesRegex(ValueError, "in_features % 32"):
            quant.quantize_fp4_weight(torch.zeros(4, 40))


class SimulationTest(unittest.TestCase):
    def test_hadamard_is_orthonormal_sylvester(self):
        h = quant.hadamard(128)
        self.assertTrue(torch.allclose(h @ h.T, torch.eye(128), atol=1e-6))
        self.assertEqual(h[1, :4].tolist(), [h[0, 0].item(), -h[0, 0].item(), h[0, 0].item(), -h[0, 0].item()])

    def test_kv_fp8_simulation_blocks_of_64(self):
        x = torch.randn(3, 128)
        x[:, :64] *= 1000
        y = quant.fp8_simulate(x, 64)
        for blk in (slice(0, 64), slice(64, 128)):
            amax = x[:, blk].abs().amax(-1, keepdim=True)
            s = torch.ldexp(torch.ones_like(amax), quant.ceil_log2(amax / 448))
            self.assertTrue(torch.equal(y[:, blk], quant.round_fp8(x[:, blk] / s) * s))

    def test_e8m0_rejects_non_powers_of_two(self):
        with self.assertRaises(ValueError):
            quant.e8m0_encode(torch.tensor([3.0]))
        self.assertEqual(quant.e8m0_encode(torch.tensor([1.0, 0.5, 2.0 ** 20])).tolist(), [127, 126, 147])


if __name__ == "__main__":
    unittest.main()
