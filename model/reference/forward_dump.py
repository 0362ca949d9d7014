"""Runs the PyTorch reference (model/reference/) on a checkpoint directory and writes FP32
logits for the C++ parity test (tests/model/reference_parity_test.cc): forward_dump.py MODEL_DIR TOKENS_TXT OUT_PREFIX MODE.
MODE exact: FP8 KV nope dims + Hadamard/FP4 indexer simulations; plain: no simulations."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import safetensors_io  # noqa: E402
from model import Numerics, Run  # noqa: E402

model_dir, tokens_path, out, mode = sys.argv[1:5]
model = safetensors_io.load_model(model_dir)
tokens = torch.tensor([[int(x) for x in open(tokens_path).read().split()]])
exact = mode == "exact"
run = Run(Numerics(kv_fp8=exact, indexer_fp4=exact), trace=True)
with torch.no_grad():
    logits, mtp = model(tokens, run, with_mtp=True)
logits[0].contiguous().numpy().astype("float32").tofile(out + ".logits")
mtp[0].contiguous().numpy().astype("float32").tofile(out + ".mtp")
with open(out + ".chosen", "w") as f:
    for name, chosen in sorted(run.trace.items()):
        if name.endswith(".index_chosen"):
            layer = name.split(".")[1]
            for t, row in enumerate(chosen[0]):
                f.write(layer + " " + " ".join(str(j) for j in row.nonzero().flatten().tolist()) + "\n")
