"""Golden vectors for the C++ engine's parity tests (format: tests/data/README.md).

  /usr/bin/python3 golden.py random --out ../../tests/data/v4-flash-mini
      random-init V4-Flash-like checkpoint (FP8 + FP4 storage) and its vectors
  /usr/bin/python3 golden.py model --model ../../models/whale-tiny --out ../../tests/data/whale-tiny
      vectors of a trained model on a rendered agent prompt (the model itself is not copied)"""

import argparse
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # deterministic summation order (see README)
os.environ.setdefault("OMP_NUM_THREADS", "1")
# One BLAS kernel on every machine: OpenBLAS picks its kernels by CPU, and the AVX-512 and AMX
# ones sum in another order than the AVX2 ones the golden vectors were computed with (measured:
# v4-flash-mini logits off by 1.35e-4 and an FP4 index key flipped on a Sapphire Rapids machine).
os.environ.setdefault("OPENBLAS_CORETYPE", "HASWELL")

import torch

import safetensors_io
from cache import Session
from config import Config
from model import Numerics, Run, Transformer, init_weights

CONTINUATION = 64
CONTINUATION_LOGITS = 16   # logits are stored for the first steps only (size)


def flash_mini_config():
    """V4-Flash layout scaled down: 3 SWA (hash-routed, like Flash's first layers), 3 CSA, 3 HCA,
    Flash ratios and window, FP8 weights with several 128x128 blocks, FP4 experts."""
    return Config(
        vocab_size=1024, hidden_size=128, num_hidden_layers=9, num_attention_heads=4, head_dim=128,
        qk_rope_head_dim=64, q_lora_rank=64, o_groups=2, o_lora_rank=64, sliding_window=128,
        compress_ratios=[0, 0, 0, 4, 128, 4, 128, 4, 128, 0], index_n_heads=4, index_head_dim=128,
        index_topk=32, n_routed_experts=6, num_experts_per_tok=2, moe_intermediate_size=64,
        routed_scaling_factor=1.5, num_hash_layers=3, max_position_embeddings=4096, expert_dtype="fp4")


def randomize_extras(model, seed):
    """init_weights zeroes sinks, ape and biases; give them values so the vectors exercise them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("attn_sink", ".ape")):
                p.normal_(0, 0.5, generator=g)
            elif name.endswith("gate.bias"):
                p.normal_(0, 0.1, generator=g)
            elif name.endswith("norm.weight"):
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
            elif name.endswith("_scale"):
                p.mul_(1 + torch.rand(p.shape, generator=g))


def logit_positions(T):
    picks = {0, 1, 3, 4, 127, 128, 255, 256, 383, 384, T - 1}
    return sorted(p for p in picks if p < T)


@torch.no_grad()
def vectors(model, tokens, numerics):
    """Everything the parity tests compare, for one numerics mode."""
    model.numerics = numerics
    cfg, T = model.cfg, len(tokens)
    run = Run(numerics, trace=True)
    logits, mtp = model(torch.tensor([tokens]), run, with_mtp=True)
    logits, mtp = logits[0], mtp[0]
    pos = logit_positions(T)
    out = [("tokens", "I32", torch.tensor(tokens, dtype=torch.int32)),
           ("logit_positions", "I32", torch.tensor(pos, dtype=torch.int32)),
           ("logits", "F32", logits[pos].contiguous()),
           ("mtp_positions", "I32", torch.tensor([0, T // 2, T - 2], dtype=torch.int32)),
           ("mtp_logits", "F32", mtp[[0, T // 2, T - 2]].contiguous())]
    for i, ratio in enumerate(cfg.compress_ratios[:cfg.num_hidden_layers]):
        if not ratio:
            continue
        out.append((f"layers.{i}.compressed", "F32", run.trace[f"layers.{i}.compressed"][0].contiguous()))
        if ratio == 4:
            keys = run.trace[f"layers.{i}.index_keys"][0]
            chosen = run.trace[f"layers.{i}.index_chosen"][0]
            scores = run.trace[f"layers.{i}.index_scores"][0]
            qpos = [p for p in pos if (p + 1) // 4 > 0]
            topk = torch.full((len(qpos), cfg.index_topk), -1, dtype=torch.int32)
            for r, p in enumerate(qpos):
                sel = chosen[p].nonzero().flatten()
                topk[r, :len(sel)] = sel.to(torch.int32)
            out += [(f"layers.{i}.index_keys", "F32", keys.contiguous()),
                    (f"layers.{i}.topk_positions", "I32", torch.tensor(qpos, dtype=torch.int32)),
                    (f"layers.{i}.topk", "I32", topk),
                    (f"layers.{i}.index_scores", "F32", scores[qpos].contiguous())]
    s = Session(model)
    step_logits = [s.prefill(tokens)[-1]]
    cont = []
    for _ in range(CONTINUATION):
        cont.append(int(step_logits[-1].argmax()))
        if len(cont) < CONTINUATION:
            step_logits.append(s.step(cont[-1]))
    out += [("continuation", "I32", torch.tensor(cont, dtype=torch.int32)),
            ("continuation_logits", "F32", torch.stack(step_logits[:CONTINUATION_LOGITS]))]
    return out


def write_vectors(model, tokens, out_dir, source):
    for name, numerics in (("golden", Numerics(kv_fp8=True, indexer_fp4=True)), ("golden_plain", Numerics())):
        meta = {"source": source, "kv_fp8": json.dumps(numerics.kv_fp8),
                "indexer_fp4": json.dumps(numerics.indexer_fp4), "compute": "fp32",
                "topk_ties": "lower index first", "continuation": "greedy, incremental decoding"}
        safetensors_io.write(os.path.join(out_dir, f"{name}.safetensors"), vectors(model, tokens, numerics), meta)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["random", "model"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", help="model directory (kind 'model')")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--tokens", type=int, default=448, help="prompt length (kind 'random')")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    if args.kind == "random":
        cfg = flash_mini_config()
        model = init_weights(Transformer(cfg), args.seed)
        randomize_extras(model, args.seed + 1)
        safetensors_io.save_model(model, args.out, "fp8", {"seed": args.seed})
        model = safetensors_io.load_model(args.out)   # compute with exactly the stored (de-quantised) weights
        g = torch.Generator().manual_seed(args.seed + 2)
        tokens = [cfg.bos_token_id] + torch.randint(3, cfg.vocab_size, (args.tokens - 1,), generator=g).tolist()
        write_vectors(model, tokens, args.out, f"random init seed {args.seed}, fp8/fp4 storage")
    else:
        import agentdata
        import tokenizer
        model = safetensors_io.load_model(args.model)
        tok = tokenizer.Tokenizer.load(os.path.join(args.model, "tokenizer.json"))
        seed = args.seed
        while True:   # a held-out agent task whose prompt spans > 3 HCA blocks
            ep = agentdata.Episode(seed, "heldout")
            text = agentdata.render(ep.first_messages())
            tokens = tok.encode(text)
            if len(tokens) > 3 * 128:
                break
            seed += 1
        with open(os.path.join(args.out, "prompt.txt"), "w", encoding="utf-8") as f:
            f.write(text)
        write_vectors(model, tokens, args.out, f"{args.model}, held-out task seed {seed}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
