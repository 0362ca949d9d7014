"""Unit checks of the architecture pieces against the spec's formulas."""
from helpers import small_config, Config  # first: sets the BLAS thread count before torch loads
import math
import unittest

import torch

import model as M


class RopeTest(unittest.TestCase):
    def test_yarn_only_on_compressed_layers_with_flash_bounds(self):
        cfg = Config(compress_ratios=[0] * 44)
        plain = M.rope_freqs(cfg, 0)
        yarn = M.rope_freqs(cfg, 4)
        base = 1.0 / (160000 ** (torch.arange(0, 64, 2, dtype=torch.float32) / 64))
        self.assertTrue(torch.allclose(plain, 1.0 / (10000 ** (torch.arange(0, 64, 2, dtype=torch.float32) / 64))))
        self.assertTrue(torch.allclose(yarn[:16], base[:16]))            # i <= 15 unchanged (low = 15)
        self.assertTrue(torch.allclose(yarn[25:], base[25:] / 16))       # i >= 25 divided by 16 (high = 25)
        self.assertTrue(((yarn[16:25] < base[16:25]) & (yarn[16:25] > base[16:25] / 16)).all())

    def test_interleaved_pairs_and_inverse(self):
        x = torch.zeros(1, 8)
        x[0, 4], x[0, 5] = 1.0, 0.0                  # first rope pair of a 4-dim rope slice
        ang = torch.tensor([[math.pi / 2, 0.0]])
        y = M.apply_rope(x, ang, 4)
        self.assertTrue(torch.allclose(y[0, 4:6], torch.tensor([0.0, 1.0]), atol=1e-6))
        self.assertTrue(torch.equal(y[0, :4], x[0, :4]))
        z = torch.randn(3, 16)
        a = torch.randn(3, 4)
        self.assertTrue(torch.allclose(M.apply_rope(M.apply_rope(z, a, 8), a, 8, inverse=True), z, atol=1e-6))


class MhcTest(unittest.TestCase):
    def test_sinkhorn_is_doubly_stochastic(self):
        p = M.sinkhorn(torch.randn(5, 4, 4, generator=torch.Generator().manual_seed(0)), 20, 1e-6)
        self.assertTrue(torch.allclose(p.sum(-2), torch.ones(5, 4), atol=1e-5))
        self.assertTrue(torch.allclose(p.sum(-1), torch.ones(5, 4), atol=1e-2))   # rows: converged, not exact

    def assert_same_function(self, ours, ref, inputs, grad_atol):
        """ours equals ref in value and in gradient (autograd through ref), and ours passes a
        float64 finite-difference check."""
        inputs = [x.requires_grad_() for x in inputs]
        out, want = ours(*inputs), ref(*inputs)
        self.assertTrue(torch.allclose(out, want, atol=1e-6))
        w = torch.randn(out.shape, generator=torch.Generator().manual_seed(9))
        for a, b in zip(torch.autograd.grad((out * w).sum(), inputs), torch.autograd.grad((want * w).sum(), inputs)):
            self.assertTrue(torch.allclose(a, b, atol=grad_atol))
        self.assertTrue(torch.autograd.gradcheck(ours, [x.detach().double().requires_grad_() for x in inputs]))

    def test_sinkhorn_matches_plain_autograd(self):
        """The hand-written backward against autograd through the spec's plain loop."""
        def plain(logits, iters, eps):
            p = logits.softmax(-1) + eps
            p = p / (p.sum(-2, keepdim=True) + eps)
            for _ in range(iters - 1):
                p = p / (p.sum(-1, keepdim=True) + eps)
                p = p / (p.sum(-2, keepdim=True) + eps)
            return p
        x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(1)) * 2
        self.assert_same_function(lambda t: M.sinkhorn(t, 20, 1e-6), lambda t: plain(t, 20, 1e-6), [x], 1e-6)

    def test_stream_mix_matches_einsum(self):
        """hc_post's hand-written mixing against the einsum."""
        g = torch.Generator().manual_seed(2)
        P, X = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 16, generator=g)
        self.assert_same_function(M.StreamMix.apply, lambda p, x: torch.einsum("...jk,...jd->...kd", p, x),
                                  [P, X], 1e-5)

    def test_pre_post_formulas(self):
        cfg = small_config([0, 0])
        X = torch.randn(2, 4, 64)
        fn, base, scale = torch.randn(24, 256) * 0.01, torch.randn(24), torch.rand(3) + 0.5
        u, post, P = M.hc_pre(X, fn, base, scale, cfg)
        v = X.flatten(-2)
        mu = (v @ fn.T) / torch.sqrt(v.pow(2).mean(-1, keepdim=True) + 1e-6)
        pre = torch.sigmoid(mu[:, :4] * scale[0] + base[:4]) + 1e-6
        self.assertTrue(torch.allclose(u, (pre[..., None] * X).sum(1), atol=1e-6))
        self.assertTrue(torch.allclose(post, 2 * torch.sigmoid(mu[:, 4:8] * scale[1] + base[4:8]), atol=1e-6))
        o = torch.randn(2, 64)
        new = M.hc_post(o, X, post, P)
        k, j = 2, 1     # P is indexed [source, destination]
        want = post[0, k] * o[0] + sum(P[0, jj, k] * X[0, jj] for jj in range(4))
        self.assertTrue(torch.allclose(new[0, k], want, atol=1e-5))
        del j


class MoeTest(unittest.TestCase):
    def test_hash_and_score_routing(self):
        cfg = small_config([0, 0, 0], hash_layers=1, n_routed_experts=4, num_experts_per_tok=2)
        model = M.init_weights(M.Transformer(cfg), 0)
        hashed, scored = model.layers[0].ffn.gate, model.layers[1].ffn.gate
        x = torch.randn(5, 64)
        toks = torch.tensor([3, 4, 5, 6, 7])
        idx, w = hashed(x, toks)
        self.assertTrue(torch.equal(idx, hashed.tid2eid[toks]))
        s = torch.nn.functional.softplus(x @ hashed.weight.T).sqrt()
        want = s.gather(1, idx)
        self.assertTrue(torch.allclose(w, want / want.sum(1, keepdim=True) * cfg.routed_scaling_factor))
        with torch.no_grad():
            scored.bias.copy_(torch.tensor([100.0, 100.0, 0.0, 0.0]))    # bias picks, but does not weigh
        idx, w = scored(x, toks)
        self.assertEqual(sorted(idx[0].tolist()), [0, 1])
        s = torch.nn.functional.softplus(x @ scored.weight.T).sqrt()
        self.assertTrue(torch.allclose(w.sum(1), torch.full((5,), cfg.routed_scaling_factor)))
        self.assertTrue(torch.allclose(w[0], s[0, idx[0]] / s[0, idx[0]].sum() * 1.5))

    def test_swiglu_clamp(self):
        e = M.Expert(4, 2, 10.0)
        with torch.no_grad():
            e.w1.weight.fill_(10.0)
            e.w3.weight.fill_(-10.0)
            e.w2.weight.fill_(1.0)
        y = e(torch.ones(1, 4))          # g = 40 -> 10, v = -40 -> -10
        self.assertAlmostEqual(y[0, 0].item(), 2 * torch.nn.functional.silu(torch.tensor(10.0)).item() * -10, places=3)


class CompressorTest(unittest.TestCase):
    def test_overlapping_block_mixes_previous_and_current(self):
        cfg = small_config([4, 0])
        comp = M.Compressor(cfg, 4, 128, is_index=False)
        A, G = torch.randn(1, 8, 256), torch.randn(1, 8, 256)
        out = comp.pool_sequence(A, G)
        vals = torch.cat([A[0, 0:4, :128], A[0, 4:8, 128:]], 0)
        logits = torch.cat([G[0, 0:4, :128], G[0, 4:8, 128:]], 0)
        self.assertTrue(torch.allclose(out[0, 1], (logits.softmax(0) * vals).sum(0), atol=1e-6))
        self.assertTrue(torch.allclose(out[0, 0], (G[0, 0:4, 128:].softmax(0) * A[0, 0:4, 128:]).sum(0), atol=1e-6))

    def test_visibility_and_topk(self):
        cfg = small_config([4, 0], topk=2)
        model = M.init_weights(M.Transformer(cfg), 0).eval()
        run = M.Run(M.Numerics(), trace=True)
        with torch.no_grad():
            model(torch.randint(0, 300, (1, 30)), run)
        chosen = run.trace["layers.0.index_chosen"][0]
        visible = (torch.arange(7)[None] < ((torch.arange(30) + 1) // 4)[:, None])
        self.assertFalse((chosen & ~visible).any())
        self.assertTrue(torch.equal(chosen.sum(-1), visible.sum(-1).clamp(max=2)))

    def test_sink_absorbs_probability(self):
        q, k = torch.randn(2, 8), torch.randn(3, 8)
        _, p0 = M.attend(q, k, torch.ones(3, dtype=torch.bool), torch.full((2,), -1e9), 1.0)
        _, p1 = M.attend(q, k, torch.ones(3, dtype=torch.bool), torch.full((2,), 5.0), 1.0)
        self.assertTrue(torch.allclose(p0.sum(-1), torch.ones(2)))
        self.assertTrue((p1.sum(-1) < 1).all())


if __name__ == "__main__":
    unittest.main()
