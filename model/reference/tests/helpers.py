"""Shared test helpers: import path and small configurations."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(REFERENCE))
SHARED = os.environ.get("WHALEBOX_SHARED_DIR", os.path.join(os.path.dirname(REPO), "shared"))
sys.path.insert(0, REFERENCE)
# One BLAS thread: FP8/FP4 rounding amplifies summation-order differences (a 1e-7 change can move
# a value across a rounding boundary), and the golden vectors were computed single-threaded.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_CORETYPE", "HASWELL")  # the kernels golden.py computes with (see there)

import torch  # noqa: E402

torch.set_num_threads(1)

from config import Config  # noqa: E402


def small_config(ratios, window=16, topk=4, hash_layers=1, **kw):
    """A tiny V4 layout; ratios includes the MTP entry (last)."""
    args = dict(vocab_size=300, hidden_size=64, num_hidden_layers=len(ratios) - 1, num_attention_heads=2,
                head_dim=128, qk_rope_head_dim=64, q_lora_rank=32, o_groups=2, o_lora_rank=32,
                sliding_window=window, compress_ratios=ratios, index_n_heads=2, index_head_dim=128,
                index_topk=topk, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                num_hash_layers=hash_layers)
    args.update(kw)
    return Config(**args)
