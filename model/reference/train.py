"""Train whale-tiny from scratch on CPU, reproducibly (fixed seeds, fixed step count).

  /usr/bin/python3 train.py --run runs/whale-tiny --out ../../models/whale-tiny

Steps: generate agent conversations (agentdata.py, real tool results), train the byte-level BPE on
them, encode with a loss mask over the assistant's text, then train all parameters with AdamW on
next-token + MTP (t+2) loss. CSA indexers: dense attention over all compressed entries for the
first --dense-frac of the steps while each indexer learns (KL towards the attention distribution);
then top-k sparse attention with the indexer still trained on the selected set. Routed experts are
balanced with the bias-only (aux-loss-free) rule. A checkpoint is written every --ckpt-every steps
(runs/<name>/ckpt), so an interrupted run still leaves a usable model; --resume continues it."""

import argparse
import functools
import json
import math
import multiprocessing
import os
import socket
import sys

# BLAS threads are fixed when the library loads, so --threads is read before importing torch.
# A fixed thread count keeps the summation order (and the run) reproducible.
_threads = next((a.split("=", 1)[1] if "=" in a else sys.argv[i + 2] for i, a in enumerate(sys.argv[1:])
                 if a.startswith("--threads")), "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", _threads)
os.environ.setdefault("OMP_NUM_THREADS", _threads)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # no spin-waiting on a shared machine
import random
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

import agentdata
import encoding
import safetensors_io
import tokenizer as tok_mod
from config import Config
from model import Run, Numerics, Transformer, init_weights


def whale_tiny_config(vocab_size, head_dim=128, heads=2):
    """V4 layout scaled down: every layer kind, hash + score routing, mHC, MTP; Flash ratios
    (window 128, CSA 4, HCA 128) so typical prompts (~550 tokens) have ~135 CSA entries > top-k 32.
    head_dim: of the attention heads (V4: 512); RoPE always on the last 64 of it.
    heads: query heads, all reading the one shared K=V head (V4-Flash: 64)."""
    return Config(
        vocab_size=vocab_size, hidden_size=128, num_hidden_layers=6,
        num_attention_heads=heads, head_dim=head_dim, qk_rope_head_dim=64, q_lora_rank=64,
        o_groups=2, o_lora_rank=64, sliding_window=128, compress_ratios=[0, 0, 4, 128, 4, 128, 0],
        index_n_heads=2, index_head_dim=128, index_topk=32,
        n_routed_experts=8, num_experts_per_tok=2, moe_intermediate_size=128,
        routed_scaling_factor=1.5, num_hash_layers=2, hc_mult=4,
        max_position_embeddings=4096, expert_dtype="fp4")


def encode_conversation(tok, messages):
    """Token ids and a 0/1 mask of the tokens the model must produce (assistant turns)."""
    text, spans = agentdata.assistant_spans(messages)
    ids, mask, pos = [], [], 0
    for start, end in spans:
        seg = tok.encode(text[pos:start])
        ids += seg
        mask += [0] * len(seg)
        seg = tok.encode(text[start:end])
        ids += seg
        mask += [1] * len(seg)
        pos = end
    seg = tok.encode(text[pos:])
    return ids + seg, mask + [0] * len(seg)


def generate(seed, terse=False):
    return agentdata.conversation(seed, "train", terse=terse)[1]


_pool_tok = None


def _load_pool_tok(path):
    global _pool_tok
    _pool_tok = tok_mod.Tokenizer.load(path)


def _encode(messages):
    return encode_conversation(_pool_tok, messages)


def build_data(run_dir, n_conv, vocab_size, seed, word_split, jobs=2, reasoning="names"):
    path = os.path.join(run_dir, "data.pt")
    # What the cached data was generated from; a run directory reused with other data options
    # would otherwise train silently on the old data (directories from before this have no file).
    spec = {"conversations": n_conv, "seed": seed, "reasoning": reasoning}
    spec_path = os.path.join(run_dir, "data.json")
    if os.path.exists(path):
        if os.path.exists(spec_path):
            with open(spec_path) as f:
                cached = json.load(f)
            if cached != spec:
                sys.exit(f"train.py: {run_dir}/data.pt was generated with {cached}, not {spec}; "
                         "use another --run directory or the same options")
        return torch.load(path), tok_mod.Tokenizer.load(os.path.join(run_dir, "tokenizer.json"))
    t0 = time.time()
    # Each conversation depends on its seed only, so parallel generation gives the same data.
    seeds = [seed * 1_000_000 + i for i in range(n_conv)]
    with multiprocessing.Pool(jobs) as pool:
        convs = pool.map(functools.partial(generate, terse=reasoning == "terse"), seeds, chunksize=50)
    texts = [agentdata.render(m) for m in convs]
    tok = tok_mod.train(texts[:3000], vocab_size, word_split)
    tok.save(os.path.join(run_dir, "tokenizer.json"))
    with multiprocessing.Pool(jobs, _load_pool_tok, (os.path.join(run_dir, "tokenizer.json"),)) as pool:
        data = pool.map(_encode, convs, chunksize=50)
    with open(spec_path, "w") as f:     # before data.pt: a data.pt without it is from before
        json.dump(spec, f)
    torch.save(data, path + ".tmp")      # a run killed while saving leaves no partial data.pt
    os.replace(path + ".tmp", path)
    print(f"data: {n_conv} conversations, {sum(len(d[0]) for d in data)} tokens, vocab {tok.vocab_size}, "
          f"{time.time() - t0:.0f}s", flush=True)
    return data, tok


def padded(rows):
    """(ids, 0/1 mask) lists of unequal length -> [B, L] tensors, padded with id 2, mask 0."""
    L = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), L), 2, dtype=torch.int64)   # pad id 2
    mask = torch.zeros(len(rows), L)
    for r, (row, m) in enumerate(rows):
        ids[r, :len(row)] = torch.tensor(row)
        mask[r, :len(m)] = torch.tensor(m, dtype=torch.float32)
    return ids, mask


def batches(data, batch, seed, group_len):
    """Batches of conversations that share their first group_len tokens' worth of prompt (the
    system prompt and tool declarations: conversations are grouped by everything before the
    first user turn), so the shared-prefix forward computes that prompt once per batch."""
    g = random.Random(seed)
    groups = {}
    for i, (ids, _) in enumerate(data):
        groups.setdefault(tuple(ids[:group_len(ids)]), []).append(i)
    order = []
    while True:
        if not order:
            for members in groups.values():
                g.shuffle(members)
            chunks = [m[k:k + batch] for m in groups.values() for k in range(0, len(m), batch)]
            g.shuffle(chunks)
            order = chunks
        pick, order = order[0], order[1:]
        yield [data[i] for i in pick]


def copy_batches(data, batch, seed):
    """Copy drill batches for the warm-up: a span of real training tokens (6-24 long), random
    filler, then the same span again; the loss is on the repeat (all but its first token). A model
    this small learns to copy unseen names only once it has induction-style attention (attend to
    the token after the previous occurrence of the current one); on the agent data alone that
    forms late, since names are a small share of the assistant's tokens. Pure copying forms it
    within a few hundred steps (measured: 68 % copy accuracy after 300 steps from scratch)."""
    g = torch.Generator().manual_seed(seed + 7)
    pick = lambda hi: int(torch.randint(0, hi, (1,), generator=g))
    while True:
        rows = []
        for _ in range(batch):
            ids, trained = data[pick(len(data))]
            span_len = 6 + pick(19)
            # Spans from the request onwards (names, numbers, results), not the fixed system prompt.
            lo = max(0, trained.index(1) - 30)
            at = lo + pick(max(1, len(ids) - span_len - lo))
            span = ids[at:at + span_len]
            filler = lambda n: [ids[pick(len(ids))] for _ in range(n)]
            head, gap = filler(pick(21)), filler(pick(41))
            row = head + span + gap + span
            start = len(head) + span_len + len(gap) + 1
            rows.append((row, [0] * start + [1] * (len(row) - start)))
        yield rows


def next_token_loss(model, X, ids, mask):
    """Cross-entropy of the next token where mask marks a target (a mask value above 1 weighs
    that target more; the mean is over the targets); X are the streams of ids. Logits only
    there: the vocab projection is costly."""
    sel = mask[:, 1:] > 0
    ce = F.cross_entropy(model.logits(X[:, :-1][sel]), ids[:, 1:][sel], reduction="none")
    return (ce * mask[:, 1:][sel]).sum() / sel.sum()


def copy_weights(ids, mask, start_weight, run_weight, first_user):
    """mask with the assistant targets that copy a piece of the request or of a tool result
    weighted up: a target token that occurs earlier in the user or tool text but not in the
    system prompt (names, numbers, file words) gets run_weight, and the first of a run of such
    tokens, where the model has to find the piece in the request rather than continue it,
    start_weight. The evaluation's wrong calls are mostly names with their first pieces wrong."""
    out = mask.clone()
    for r in range(ids.shape[0]):
        row, m = ids[r].tolist(), mask[r].tolist()
        u = row.index(first_user) if first_user in row else len(row)
        system, seen, prev_copied = set(row[:u]), set(), False
        for i in range(u, len(row)):
            t = row[i]
            copied = m[i] > 0 and t in seen and t not in system
            if copied:
                out[r, i] = start_weight if not prev_copied else run_weight
            prev_copied = copied
            if m[i] == 0:
                seen.add(t)
    return out


def shared_prefix_len(ids, mask):
    """Tokens every row shares and that need neither a target nor an MTP target: one less than
    the common prefix (the MTP block also reads the next token), and none that is trained."""
    same = (ids == ids[:1]).all(0)
    P = int(same.long().cumprod(0).sum()) - 1
    trained = mask.any(0).nonzero()
    if len(trained):
        P = min(P, int(trained[0]) - 2)
    return max(0, min(P, ids.shape[1] - 2))


def losses(model, ids, mask, run, share=True):
    """Assistant-token LM loss and MTP (t+2) loss of a batch; with share the common prompt
    prefix is computed once (Transformer.shared_streams), else every row in full. Logits only
    where a target is trained (assistant tokens): the vocab projection is costly."""
    P = shared_prefix_len(ids, mask) if share else 0
    if P == 0:
        X = model.streams(ids, run)
        Y = model.mtp_streams(X, ids, run)
    else:
        Xp, X = model.shared_streams(ids[0, :P], ids[:, P:], run)
        _, Y = model.shared_mtp_streams(ids[0, :P], ids[:, P:], Xp, X, run)
    lm = next_token_loss(model, X, ids[:, P:], mask[:, P:])
    sel = mask[:, P + 2:].bool()
    mtp = F.cross_entropy(model.head(model.mtp[0].head_input(Y[:, :-1][sel])), ids[:, P + 2:][sel])
    return lm, mtp


# Data parallel over --procs processes (gloo): every process holds the whole model and takes
# rows rank, rank + procs, ... of each batch; the gradients, each scaled by its process's share of
# the rows, are summed, so every process takes the same optimizer step and the copies stay equal
# (checked at every checkpoint). One process runs exactly as before.
def free_port():
    """A free localhost port for the process group's rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join_process_group(rank, procs, port):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=procs)


def world():
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def summed(t):
    """t summed over the processes (in place)."""
    if dist.is_initialized():
        dist.all_reduce(t)
    return t


def my_rows(rows):
    """This process's rows of a batch, padded, and their weight (share of the batch's rows). A
    process left without a row (a batch smaller than --procs) computes the first with weight 0."""
    rank, n = world()
    mine = rows[rank::n]
    return padded(mine or rows[:1]), len(mine) / len(rows)


def sum_gradients(model):
    """Every gradient summed over the processes, as one all-reduce of one flat buffer."""
    if not dist.is_initialized():
        return
    params = [p for p in model.parameters() if p.requires_grad]
    flat = summed(torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]))
    at = 0
    for p in params:
        p.grad = flat[at:at + p.numel()].view_as(p)
        at += p.numel()


def optimizer_step(model, opt, loss, weight=1.0):
    opt.zero_grad(set_to_none=True)
    (loss * weight if weight != 1.0 else loss).backward()
    sum_gradients(model)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def balance_experts(loads, rate, weight=1.0):
    """Aux-loss-free balancing: nudge each score gate's bias towards equal expert load (the load
    of the whole batch, over all processes)."""
    with torch.no_grad():
        for gate, load in loads:
            load = summed(load.float() * (weight > 0))
            gate.bias += rate * torch.sign(load.mean() - load)


def check_in_sync(model):
    if not dist.is_initialized():
        return
    sums = torch.stack([p.detach().double().sum() for p in model.parameters()])
    hi, lo = sums.clone(), sums.clone()
    dist.all_reduce(hi, dist.ReduceOp.MAX)
    dist.all_reduce(lo, dist.ReduceOp.MIN)
    if not torch.equal(hi, lo):
        raise RuntimeError("data-parallel processes diverged: their parameters differ")


def lr_at(step, steps, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup))))


def tie_head(model):
    """One matrix for the input embedding and the output head, so the head scores a token by
    its own embedding direction: a head that copies a token from the context then works for
    rare name pieces too, whose untied head rows barely train. Initialised at the untied head's
    scale (std d^-1/2; the untied embedding starts at std 1). State dicts and exports keep
    both names (equal tensors), so every loader sees an ordinary untied model."""
    with torch.no_grad():
        model.embed.weight.mul_(model.cfg.hidden_size ** -0.5)
    model.head.weight = model.embed.weight


def scale_kv_gain(model, gain):
    """Start the attention keys (= values) at RMS gain instead of 1: the kv_norm weights of every
    attention and of its compressor times gain, and the output projection wo_a divided by it, so
    the value path is as before and only the scores are gain times sharper. Queries are
    RMS-normalised without a weight (V4), so a score q.k/sqrt(head_dim) is at most |k|, about
    sqrt(head_dim) at gain 1: over ~160 visible keys a head cannot put most of its weight on one
    (a copied token) unless the kv_norm weights grow, which they hardly did in training."""
    with torch.no_grad():
        for block in list(model.layers) + list(model.mtp):
            attn = block.attn
            attn.kv_norm.weight.mul_(gain)
            if attn.ratio:   # its compressed entries are keys of the same softmax
                attn.compressor.norm.weight.mul_(gain)
            attn.wo_a.weight.div_(gain)


def save_checkpoint(run_dir, model, opt, step, tok):
    ck = os.path.join(run_dir, "ckpt")
    safetensors_io.save_model(model, ck, "fp32", {"step": step})
    tok.save(os.path.join(ck, "tokenizer.json"))
    torch.save({"opt": opt.state_dict(), "step": step}, os.path.join(run_dir, "opt.pt"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/whale-tiny", help="working directory (data, log, checkpoints)")
    ap.add_argument("--out", default="", help="export the final model here (bf16 safetensors)")
    ap.add_argument("--conversations", type=int, default=16000)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=450)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--dense-frac", type=float, default=0.2)
    ap.add_argument("--mtp-weight", type=float, default=0.3)
    ap.add_argument("--ckpt-every", type=int, default=25)
    ap.add_argument("--stop-after", type=int, default=0,
                    help="end after this many steps of the --steps schedule (0: all); the learning rate follows --steps")
    ap.add_argument("--copy-warmup", type=int, default=0,
                    help="steps of the copy drill (copy_batches) before the agent data; 0 for none")
    ap.add_argument("--pretokenizer", choices=sorted(tok_mod.WORD_SPLITS), default="v4",
                    help="word split of the tokenizer (tokenizer.WORD_SPLITS): V4's leading-space words, or trailing-space")
    ap.add_argument("--tie-embeddings", action="store_true",
                    help="train the output head as the input embedding (one matrix; exported as both tensors)")
    ap.add_argument("--copy-weight", type=float, nargs=2, default=(1.0, 1.0), metavar=("START", "RUN"),
                    help="LM loss weight of assistant tokens copied from the request or a tool result: the first "
                         "of a copied run, and the rest (copy_weights); 1 1 for none")
    ap.add_argument("--head-dim", type=int, default=128, help="attention head size (V4: 512; RoPE on its last 64)")
    ap.add_argument("--heads", type=int, default=2,
                    help="query heads per layer (a multiple of o_groups, 2); they share one K=V head, so more "
                         "cost attention scores but no extra keys")
    ap.add_argument("--kv-gain", type=float, default=1.0,
                    help="initial RMS of the attention keys/values (scale_kv_gain); 1 for the plain init")
    ap.add_argument("--reasoning", choices=agentdata.REASONING, default="names",
                    help="training data: reasoning before a call repeats the file names it uses, or not "
                         "(terse: each name is copied once, request -> argument)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch/BLAS threads per process")
    ap.add_argument("--procs", type=int, default=1,
                    help="data-parallel processes (gloo); --procs 2 --threads 1 uses 2 cores best")
    ap.add_argument("--no-share", action="store_true",
                    help="compute every conversation in full instead of sharing the common prompt prefix")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.run, exist_ok=True)
    data, tok = build_data(args.run, args.conversations, args.vocab, args.seed, tok_mod.WORD_SPLITS[args.pretokenizer],
                           reasoning=args.reasoning)
    if tok.words != tok_mod.WORD_SPLITS[args.pretokenizer]:
        sys.exit(f"train.py: {args.run}/tokenizer.json has another word split than --pretokenizer {args.pretokenizer}")
    if args.procs == 1:
        return train_process(args, data, tok)
    port = free_port()
    fork = multiprocessing.get_context("fork")   # the children share the loaded data
    others = [fork.Process(target=train_process, args=(args, data, tok, r, port)) for r in range(1, args.procs)]
    for p in others:
        p.start()
    try:
        train_process(args, data, tok, 0, port)
    finally:
        for p in others:
            p.join()
    if any(p.exitcode for p in others):
        sys.exit(f"train.py: a data-parallel process failed (exit codes {[p.exitcode for p in others]})")


def train_process(args, data, tok, rank=0, port=0):
    if args.procs > 1:
        torch.set_num_threads(args.threads)
        join_process_group(rank, args.procs, port)
    lead = rank == 0
    torch.manual_seed(args.seed)
    cfg = whale_tiny_config(tok.vocab_size, args.head_dim, args.heads)
    model = init_weights(Transformer(cfg), args.seed)
    scale_kv_gain(model, args.kv_gain)   # 1: exactly the plain init
    if args.tie_embeddings:
        tie_head(model)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() == 2]
    other = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    start = 0
    if args.resume and os.path.exists(os.path.join(args.run, "opt.pt")):
        saved = Config.load(os.path.join(args.run, "ckpt", "config.json"))
        # Checked first: load_state_dict would fail on the first tensor of another shape.
        if (saved.num_attention_heads, saved.head_dim) != (cfg.num_attention_heads, cfg.head_dim):
            sys.exit(f"train.py: {args.run} was trained with {saved.num_attention_heads} heads of "
                     f"{saved.head_dim}, not {cfg.num_attention_heads} of {cfg.head_dim}; "
                     "resume with its --heads/--head-dim")
        state = safetensors_io.dequantized_state(
            safetensors_io.read(os.path.join(args.run, "ckpt", "model.safetensors"))[0])
        # Checked in the file: once tied, the model's two names are one tensor and always equal.
        if args.tie_embeddings != torch.equal(state["head.weight"], state["embed.weight"]):
            sys.exit(f"train.py: {args.run} was {'not ' if args.tie_embeddings else ''}trained with --tie-embeddings")
        model.load_state_dict(state)
        st = torch.load(os.path.join(args.run, "opt.pt"))
        opt.load_state_dict(st["opt"])
        start = st["step"]
        if lead:
            print(f"resumed at step {start}", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    if lead:
        print(f"model: {n_params} parameters; {json.dumps(cfg.compress_ratios)}; {args.procs} process(es)", flush=True)

    user = tok.added[encoding.USER]
    stream = batches(data, args.batch, args.seed, lambda ids: ids.index(user) if user in ids else len(ids))
    for _ in range(start):
        next(stream)
    log = open(os.path.join(args.run, "log.jsonl"), "a") if lead else None

    def write_log(rec):
        if lead:
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)

    t0, c0, tokens = time.time(), time.process_time(), 0
    model.train()
    if start == 0 and args.copy_warmup:
        drills = copy_batches(data, 16, args.seed)
        for step in range(args.copy_warmup):
            (ids, mask), weight = my_rows(next(drills))
            for group in opt.param_groups:
                group["lr"] = args.lr * min(1.0, (step + 1) / args.warmup)
            loss = next_token_loss(model, model.streams(ids, Run(Numerics())), ids, mask)
            optimizer_step(model, opt, loss, weight)
            if step % 25 == 0 or step == args.copy_warmup - 1:
                copy_loss = summed(loss.detach() * weight).item()
                write_log({"copy_step": step, "copy_loss": round(copy_loss, 4), "elapsed_s": round(time.time() - t0, 1)})
    last = min(args.steps, args.stop_after or args.steps)
    for step in range(start, last):
        (ids, mask), weight = my_rows(next(stream))
        if tuple(args.copy_weight) != (1.0, 1.0):
            mask = copy_weights(ids, mask, args.copy_weight[0], args.copy_weight[1], user)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        dense = step < args.dense_frac * args.steps
        run = Run(Numerics(), train_indexer=True, dense_indexer=dense, expert_load=True)
        lm, mtp_loss = losses(model, ids, mask, run, share=not args.no_share)
        kl = torch.stack(run.indexer_loss).mean() if run.indexer_loss else torch.zeros(())
        loss = lm + args.mtp_weight * mtp_loss + kl
        optimizer_step(model, opt, loss, weight)
        balance_experts(run.expert_load, 1e-3, weight)
        tokens += ids.numel() * (weight > 0)
        if step % 10 == 0 or step == last - 1:
            t = summed(torch.stack([loss.detach(), lm.detach(), mtp_loss.detach(), kl.detach()]) * weight).tolist()
            all_tokens = summed(torch.tensor(float(tokens))).item()
            write_log({"step": step, "loss": round(t[0], 4), "lm": round(t[1], 4),
                       "mtp": round(t[2], 4), "indexer_kl": round(t[3], 4), "dense": dense,
                       "lr": round(opt.param_groups[0]["lr"], 6), "tok_s": round(all_tokens / (time.time() - t0), 1),
                       "elapsed_s": round(time.time() - t0, 1), "cpu_s": round(summed(torch.tensor(time.process_time() - c0)).item(), 1)})
        if (step + 1) % args.ckpt_every == 0 or step == last - 1:
            check_in_sync(model)
            if lead:
                save_checkpoint(args.run, model, opt, step + 1, tok)
    if args.out and lead:
        export(model, tok, args.out, {"steps": last, "schedule_steps": args.steps, "seed": args.seed})
    if dist.is_initialized():
        dist.destroy_process_group()


def export(model, tok, out, meta):
    safetensors_io.save_model(model, out, "bf16", meta)
    tok.save(os.path.join(out, "tokenizer.json"))
    print(f"exported to {out}", flush=True)


if __name__ == "__main__":
    main()
