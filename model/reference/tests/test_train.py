"""The shared-prefix training forward equals the unshared one: losses and every gradient."""
from helpers import small_config  # first: sets the BLAS thread count before torch loads
import unittest

import torch

import model as M
import train


def batch(P, lengths, vocab, seed):
    """Rows sharing their first P tokens, padded with id 2; targets only after the prefix."""
    g = torch.Generator().manual_seed(seed)
    prefix = torch.randint(3, vocab, (P,), generator=g)
    L = max(lengths)
    ids = torch.full((len(lengths), L), 2, dtype=torch.int64)
    mask = torch.zeros(len(lengths), L)
    for r, n in enumerate(lengths):
        ids[r, :P] = prefix
        ids[r, P:n] = torch.randint(3, vocab, (n - P,), generator=g)
        mask[r, P + 5:n] = 1.0
    return ids, mask


class SharedPrefixTest(unittest.TestCase):
    def check(self, dense, heads=2):
        # SWA, CSA (17+ entries, top-4), HCA (ratio 16) and the MTP block; the prefix (70 tokens)
        # ends inside a compression block, so blocks straddle the prefix/row boundary.
        cfg = small_config([0, 4, 16, 0], window=16, topk=4, num_attention_heads=heads)
        model = M.init_weights(M.Transformer(cfg), 3)
        ids, mask = batch(70, [131, 97, 118], cfg.vocab_size, 1)
        self.assertEqual(train.shared_prefix_len(ids, mask), 69)
        results = []
        for share in (False, True):
            model.zero_grad(set_to_none=True)
            run = M.Run(M.Numerics(), train_indexer=True, dense_indexer=dense)
            lm, mtp = train.losses(model, ids, mask, run, share=share)
            kl = torch.stack(run.indexer_loss).mean()
            self.assertEqual(len(run.indexer_loss), 1)
            (lm + 0.3 * mtp + kl).backward()
            grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
            results.append((lm.item(), mtp.item(), kl.item(), grads))
        (lm0, mtp0, kl0, g0), (lm1, mtp1, kl1, g1) = results
        print(f"\nshared-prefix vs full (dense={dense}): lm {abs(lm0 - lm1):.2e}, mtp {abs(mtp0 - mtp1):.2e}, "
              f"indexer KL {abs(kl0 - kl1):.2e}, max grad diff "
              f"{max((g0[n] - g1[n]).abs().max().item() for n in g0):.2e}")
        self.assertAlmostEqual(lm0, lm1, delta=1e-5)
        self.assertAlmostEqual(mtp0, mtp1, delta=1e-5)
        self.assertAlmostEqual(kl0, kl1, delta=1e-5)
        self.assertGreater(kl0, 0)
        self.assertEqual(set(g0), set(g1))
        for n in g0:
            # FP32 summation order differs (the prefix's gradient is summed over the rows)
            self.assertLess((g0[n] - g1[n]).abs().max().item(), 1e-6 + 1e-4 * g0[n].abs().max().item(), n)
        self.assertTrue(any(g0[n].abs().max() > 0 for n in g0 if "indexer" in n))

    def test_dense_indexer_warm_up(self):
        self.check(dense=True)

    def test_top_k_indexer(self):
        self.check(dense=False)

    def test_four_query_heads(self):   # train.py --heads 4: more query heads on the one K=V head
        self.check(dense=False, heads=4)

    def test_streams_equal_full_forward(self):
        cfg = small_config([0, 4, 16, 0], window=16, topk=4)
        model = M.init_weights(M.Transformer(cfg), 4)
        ids, _ = batch(40, [90, 77], cfg.vocab_size, 2)
        with torch.no_grad():
            full = model.streams(ids, M.Run(M.Numerics()))
            Xp, Xs = model.shared_streams(ids[0, :40], ids[:, 40:], M.Run(M.Numerics()))
        self.assertLess((full[0, :40] - Xp).abs().max().item(), 1e-5)
        self.assertLess((full[:, 40:] - Xs).abs().max().item(), 1e-5)

    def test_prefix_stops_before_trained_tokens(self):
        ids, mask = batch(30, [60, 50], 300, 3)
        mask[:, 10] = 1.0                       # a trained token inside the common part
        self.assertEqual(train.shared_prefix_len(ids, mask), 8)
        ids[1, 0] = ids[0, 0] + 1               # nothing in common
        self.assertEqual(train.shared_prefix_len(ids, mask), 0)


if __name__ == "__main__":
    unittest.main()


class TiedHeadTest(unittest.TestCase):
    def test_one_matrix_trains_and_exports_as_both_tensors(self):
        import tempfile
        import safetensors_io
        cfg = small_config([0, 4, 16, 0], window=16, topk=4)
        model = M.init_weights(M.Transformer(cfg), 3)
        untied_std = model.embed.weight.std().item()
        train.tie_head(model)
        self.assertIs(model.head.weight, model.embed.weight)
        self.assertAlmostEqual(model.embed.weight.std().item(), untied_std * cfg.hidden_size ** -0.5, delta=1e-3)
        ids, mask = batch(30, [60, 55], cfg.vocab_size, 2)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        before = model.embed.weight.detach().clone()
        lm, mtp = train.losses(model, ids, mask, M.Run(M.Numerics()))
        (lm + 0.3 * mtp).backward()
        opt.step()
        self.assertIs(model.head.weight, model.embed.weight)
        self.assertGreater((model.embed.weight - before).abs().max().item(), 0)
        out = tempfile.mkdtemp(prefix="tied-")
        safetensors_io.save_model(model, out, "fp32")
        again = safetensors_io.load_model(out)    # an ordinary untied model: two equal tensors
        self.assertIsNot(again.head.weight, again.embed.weight)
        self.assertTrue(torch.equal(again.head.weight, again.embed.weight))
        self.assertTrue(torch.equal(again.head.weight, model.head.weight.detach()))


class StopAfterTest(unittest.TestCase):
    def test_stopped_run_resumed_equals_the_whole_run(self):
        # A run stopped early (--stop-after) is the whole schedule's prefix: resumed to the end it
        # is bit-equal to the run that never stopped (the learning rate follows --steps).
        import os
        import subprocess
        import sys
        import tempfile
        import safetensors_io
        root = tempfile.mkdtemp(prefix="stop-after-")
        base = [sys.executable, os.path.join(train.__file__), "--conversations", "24", "--vocab", "700",
                "--steps", "6", "--batch", "2", "--threads", "1", "--ckpt-every", "100", "--warmup", "2"]
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
        run = lambda d, *extra: subprocess.run(base + ["--run", os.path.join(root, d), *extra], check=True,
                                               capture_output=True, timeout=600, env=env, cwd=os.path.dirname(train.__file__))
        run("whole")
        out = run("stopped", "--stop-after", "3").stdout.decode()
        self.assertIn('"step": 2,', out)
        self.assertNotIn('"step": 3,', out)
        # Resuming with the other head layout is refused (checked in the checkpoint file).
        wrong = subprocess.run(base + ["--run", os.path.join(root, "stopped"), "--resume", "--tie-embeddings"],
                               capture_output=True, timeout=600, env=env, cwd=os.path.dirname(train.__file__))
        self.assertNotEqual(wrong.returncode, 0)
        self.assertIn(b"was not trained with --tie-embeddings", wrong.stderr)
        # So is reusing its data with other data options (recorded in data.json).
        wrong = subprocess.run(base + ["--run", os.path.join(root, "stopped"), "--resume", "--reasoning", "terse"],
                               capture_output=True, timeout=600, env=env, cwd=os.path.dirname(train.__file__))
        self.assertNotEqual(wrong.returncode, 0)
        self.assertIn(b"'reasoning': 'names'}, not {", wrong.stderr)
        # And resuming with another attention shape, before any tensor is loaded.
        wrong = subprocess.run(base + ["--run", os.path.join(root, "stopped"), "--resume", "--heads", "4"],
                               capture_output=True, timeout=600, env=env, cwd=os.path.dirname(train.__file__))
        self.assertNotEqual(wrong.returncode, 0)
        self.assertIn(b"was trained with 2 heads of 128, not 4 of 128", wrong.stderr)
        run("stopped", "--resume")
        a = safetensors_io.read(os.path.join(root, "whole", "ckpt", "model.safetensors"))[0]
        b = safetensors_io.read(os.path.join(root, "stopped", "ckpt", "model.safetensors"))[0]
        self.assertEqual(set(a), set(b))
        for name in a:
            self.assertTrue(torch.equal(a[name][1], b[name][1]), name)


class CopyDrillTest(unittest.TestCase):
    def test_the_repeat_is_the_span_and_only_it_is_trained(self):
        g = torch.Generator().manual_seed(5)
        data = []
        for n in (120, 80, 200):
            ids = torch.randint(3, 500, (n,), generator=g).tolist()
            data.append((ids, [0] * 40 + [1] * (n - 40)))
        drills = train.copy_batches(data, 8, 0)
        for _ in range(5):
            ids, mask = train.padded(next(drills))
            self.assertEqual(ids.shape[0], 8)
            for row, m in zip(ids.tolist(), mask.tolist()):
                trained = [i for i, v in enumerate(m) if v]
                start, end = trained[0], trained[-1] + 1
                span = row[start - 1:end]                    # the repeat, first token untrained
                self.assertTrue(6 <= len(span) <= 24)
                self.assertEqual(trained, list(range(start, end)))
                self.assertTrue(all(t == 2 for t in row[end:]))   # only padding after it
                earlier = row[:start - 1]
                self.assertTrue(any(earlier[k:k + len(span)] == span for k in range(len(earlier))))
        # Reproducible from the seed.
        a, b = next(train.copy_batches(data, 4, 1)), next(train.copy_batches(data, 4, 1))
        self.assertEqual(a, b)


class CopyWeightTest(unittest.TestCase):
    def test_copied_pieces_are_weighted_and_the_loss_is_their_weighted_mean(self):
        U = 9                                            # the first user token
        #         system      user: 50 51 52 (a name) 7 (also in the system prompt)
        row = [3, 7, 8, U, 50, 51, 52, 7, 60, 50, 51, 7, 52, 61, 50]
        m = [0] * 9 + [1] * 6                            # assistant: 50 51 | 7 | 52 | 61 | 50
        ids, mask = torch.tensor([row]), torch.tensor([m], dtype=torch.float32)
        w = train.copy_weights(ids, mask, 5.0, 2.0, U)[0].tolist()
        # 50 starts a copied run, 51 continues it; 7 occurs in the system prompt, so it is not
        # a copy and 52 after it starts a new run; 61 never occurs before; the last 50 starts one.
        self.assertEqual(w, [0] * 9 + [5, 2, 1, 5, 1, 5])
        # Unweighted, the loss is the plain mean cross-entropy; weighted, sum(w * ce) / targets.
        cfg = small_config([0, 4, 16, 0], window=16, topk=4)
        model = M.init_weights(M.Transformer(cfg), 3)
        ids = torch.randint(3, cfg.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
        mask = torch.zeros(2, 40)
        mask[:, 20:] = 1.0
        with torch.no_grad():
            X = model.streams(ids, M.Run(M.Numerics()))
            ce = torch.nn.functional.cross_entropy(model.logits(X[:, :-1][mask[:, 1:].bool()]),
                                                   ids[:, 1:][mask[:, 1:].bool()], reduction="none")
            self.assertAlmostEqual(train.next_token_loss(model, X, ids, mask).item(), ce.mean().item(), places=5)
            mask[0, 25] = 4.0
            expect = (ce.sum() + 3.0 * ce[25 - 20]).item() / ce.numel()
            self.assertAlmostEqual(train.next_token_loss(model, X, ids, mask).item(), expect, places=5)


class KvGainTest(unittest.TestCase):
    def test_keys_and_compressed_entries_scale_and_the_value_path_does_not(self):
        cfg = small_config([0, 4, 16, 0], window=16, topk=4)
        plain = M.init_weights(M.Transformer(cfg), 5)
        gained = M.init_weights(M.Transformer(cfg), 5)
        train.scale_kv_gain(gained, 3.0)
        g_in = torch.Generator().manual_seed(2)
        a = torch.randn(1, 40, cfg.hidden_size, generator=g_in)
        pos = torch.arange(40)
        for p, g in zip(list(plain.layers) + list(plain.mtp), list(gained.layers) + list(gained.mtp)):
            ang = p.attn.angles(pos)
            k0, k1 = p.attn.key_value(a, ang, M.Numerics()), g.attn.key_value(a, ang, M.Numerics())
            torch.testing.assert_close(k1, 3.0 * k0)
            if p.attn.ratio:
                pooled = torch.randn(1, 2, cfg.head_dim, generator=g_in)
                c0 = p.attn.compressor.finish(pooled, torch.arange(2) * p.attn.ratio, p.attn.angles, M.Numerics())
                c1 = g.attn.compressor.finish(pooled, torch.arange(2) * p.attn.ratio, g.attn.angles, M.Numerics())
                torch.testing.assert_close(c1, 3.0 * c0)
            o = torch.randn(1, 40, cfg.num_attention_heads, cfg.head_dim, generator=g_in)
            torch.testing.assert_close(g.attn.output(3.0 * o, ang), p.attn.output(o, ang))
        self.assertEqual(len(gained.mtp), 1)   # the loop above covered the MTP block's attention too


def _data_parallel_gradients(rank, port, rows, out):
    import torch.distributed as dist
    train.join_process_group(rank, 2, port)
    cfg = small_config([0, 4, 16, 0], window=16, topk=4)
    model = M.init_weights(M.Transformer(cfg), 3)
    (ids, mask), weight = train.my_rows(rows)
    run = M.Run(M.Numerics(), train_indexer=True, dense_indexer=False, expert_load=True)
    lm, mtp = train.losses(model, ids, mask, run)
    (lm * weight).backward()
    train.sum_gradients(model)
    train.balance_experts(run.expert_load, 1e-3, weight)
    train.check_in_sync(model)
    if rank == 0:
        # numpy arrays: torch tensors would travel as shared memory of a process about to exit
        out.put(({n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.grad is not None},
                 {n: p.detach().numpy().copy() for n, p in model.named_parameters() if n.endswith("gate.bias")}))
    dist.destroy_process_group()


class DataParallelTest(unittest.TestCase):
    def test_two_processes_give_the_full_batch_gradient(self):
        import multiprocessing
        # Four rows with the same number of trained tokens, so the mean of the two processes'
        # per-row-half means is the full batch's mean.
        ids, mask = batch(40, [90, 90, 90, 90], 300, 6)
        rows = [(ids[r].tolist(), mask[r].tolist()) for r in range(4)]
        cfg = small_config([0, 4, 16, 0], window=16, topk=4)
        model = M.init_weights(M.Transformer(cfg), 3)
        run = M.Run(M.Numerics(), train_indexer=True, dense_indexer=False, expert_load=True)
        lm, _ = train.losses(model, ids, mask, run)
        lm.backward()
        train.balance_experts(run.expert_load, 1e-3)
        port = train.free_port()
        fork = multiprocessing.get_context("fork")
        out = fork.Queue()
        procs = [fork.Process(target=_data_parallel_gradients, args=(r, port, rows, out)) for r in range(2)]
        for p in procs:
            p.start()
        grads, biases = out.get(timeout=120)
        grads = {n: torch.from_numpy(g) for n, g in grads.items()}
        biases = {n: torch.from_numpy(b) for n, b in biases.items()}
        for p in procs:
            p.join()
            self.assertEqual(p.exitcode, 0)
        full = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        self.assertEqual(set(full) - set(grads), set())
        worst = max((full[n] - grads[n]).abs().max().item() for n in full)
        print(f"\ndata parallel (2 processes) vs one process: max gradient difference {worst:.2e}")
        for n in full:
            self.assertLess((full[n] - grads[n]).abs().max().item(), 1e-6 + 1e-4 * full[n].abs().max().item(), n)
        # Expert balancing moved the biases, the same on both processes (check_in_sync passed in
        # each). Not bit-equal to one process: each process counts the shared prefix's load once.
        self.assertTrue(biases)
        self.assertTrue(all(b.abs().max() > 0 for b in biases.values()))
