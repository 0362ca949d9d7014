"""DeepSeek-V4 reference model in PyTorch (spec v4-model.md), full-sequence forward.

Module and parameter names are the official checkpoint names (spec §15), so `state_dict()` keys
are the tensor names of a released checkpoint. Compute is FP32 throughout; the reference's
precision-relevant roundings are switchable (`Numerics`): FP8 rounding of KV entries and
Hadamard + FP4 rounding of indexer queries/keys. Incremental decoding lives in cache.py and reuses
the primitives defined here."""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

import quant
from config import Config


@dataclass
class Numerics:
    kv_fp8: bool = False        # FP8 e4m3 round trip of KV 'nope' dims (raw and compressed entries)
    indexer_fp4: bool = False   # Hadamard rotation + FP4 round trip of indexer queries and keys


# --- small primitives ------------------------------------------------------------------------

def rms_normalize(x, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return rms_normalize(x, self.eps) * self.weight


def linear(d_in, d_out):
    return nn.Linear(d_in, d_out, bias=False)


def rope_freqs(cfg, ratio):
    """Per-pair frequencies f_i of one layer: theta 10000 plain for ratio 0, else
    compress_rope_theta with the YaRN blend (no mscale)."""
    r = cfg.qk_rope_head_dim
    base = cfg.rope_theta if ratio == 0 else cfg.compress_rope_theta
    f = 1.0 / (base ** (torch.arange(0, r, 2, dtype=torch.float32) / r))
    if ratio == 0 or not cfg.rope_scaling:
        return f
    rs = cfg.rope_scaling
    orig, factor = rs["original_max_position_embeddings"], rs["factor"]
    corr = lambda rot: r * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(base))
    low = max(math.floor(corr(rs["beta_fast"])), 0)
    high = min(math.ceil(corr(rs["beta_slow"])), r - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(r // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    return f * (1 - ramp) + f / factor * ramp


def rope_angles(positions, freqs):
    """FP32 angle table [len(positions), r/2] = float32(t) * f_i (the reference recipe)."""
    return positions.to(torch.float32)[:, None] * freqs[None, :]


def apply_rope(x, angles, rope_dim, inverse=False):
    """Interleaved (GPT-J) rotation of the trailing rope_dim values of the last axis.
    `angles` broadcasts against x[..., :rope_dim // 2]."""
    pairs = x[..., -rope_dim:].reshape(*x.shape[:-1], rope_dim // 2, 2)
    cos, sin = angles.cos(), angles.sin()
    if inverse:
        sin = -sin
    x0, x1 = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], -1).flatten(-2)
    return torch.cat([x[..., :-rope_dim], rotated], -1)


def round_kv(x, cfg, numerics):
    """FP8 simulation of the 'nope' dims of a KV entry (blocks of 64); rope dims untouched."""
    if not numerics.kv_fp8:
        return x
    n = cfg.head_dim - cfg.qk_rope_head_dim
    return torch.cat([quant.fp8_simulate(x[..., :n], 64), x[..., n:]], -1)


def round_index(x, numerics):
    """Hadamard + FP4 simulation of indexer vectors (only matters together, spec §7 note)."""
    if not numerics.indexer_fp4:
        return x
    return quant.fp4_simulate(quant.hadamard_rotate(x), 32)


# --- mHC -------------------------------------------------------------------------------------

class Sinkhorn(torch.autograd.Function):
    """softmax over rows (+eps), column normalise, then iters-1 rounds of (row, column), on
    [..., hc, hc] logits. Computed in an [hc, hc, n] layout, where each tiny row or column sum
    is a vector add over the n matrices, with a hand-written backward: autograd through the 39
    small normalisations was a large share of a whale-tiny training step (README, "Step time")."""

    @staticmethod
    def forward(ctx, logits, iters, eps):
        shape = logits.shape
        # The softmax in the input layout: its kernel there rounds as the plain loop's does.
        soft = logits.softmax(-1).reshape(-1, shape[-2], shape[-1]).permute(1, 2, 0).contiguous()
        p, saved = soft + eps, []
        for k in range(2 * iters - 1):
            d = p.sum(k % 2, keepdim=True) + eps   # axis 0: column sums first, then 1: row, ...
            p = p / d
            saved += [p, d]
        ctx.save_for_backward(soft, *saved)
        return p.permute(2, 0, 1).reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        soft, *saved = ctx.saved_tensors
        g = grad.reshape(-1, *grad.shape[-2:]).permute(1, 2, 0).contiguous()
        for k in reversed(range(len(saved) // 2)):
            # p = q / (sum_axis q + eps)  =>  dL/dq = (g - sum_axis(g * p)) / (sum_axis q + eps)
            p, d = saved[2 * k], saved[2 * k + 1]
            g = (g - (g * p).sum(k % 2, keepdim=True)) / d
        g = soft * (g - (g * soft).sum(1, keepdim=True))
        return g.permute(2, 0, 1).reshape(grad.shape), None, None


def sinkhorn(logits, iters, eps):
    return Sinkhorn.apply(logits, iters, eps)


def hc_mix_logits(X, fn, cfg):
    """mu = (fn . flatten(X)) * rsqrt(mean(flatten(X)^2) + eps), X: [..., hc, d]."""
    v = X.flatten(-2)
    return (v @ fn.T) * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + cfg.rms_norm_eps)


def hc_pre(X, fn, base, scale, cfg):
    """Returns the sublayer input u = sum_j pre_j X_j, the post weights and the mixing matrix P
    indexed [source, destination]."""
    hc = cfg.hc_mult
    mu = hc_mix_logits(X, fn, cfg)
    pre = torch.sigmoid(mu[..., :hc] * scale[0] + base[:hc]) + cfg.hc_eps
    post = 2 * torch.sigmoid(mu[..., hc:2 * hc] * scale[1] + base[hc:2 * hc])
    comb = (mu[..., 2 * hc:] * scale[2] + base[2 * hc:]).unflatten(-1, (hc, hc))
    P = sinkhorn(comb, cfg.hc_sinkhorn_iters, cfg.hc_eps)
    u = (pre.unsqueeze(-1) * X).sum(-2)
    return u, post, P


class StreamMix(torch.autograd.Function):
    """sum_j P[..., j, k] X[..., j, :] (P [..., hc, hc] indexed [source, destination], X
    [..., hc, d]) as hc broadcast multiply-adds with a hand-written backward: as an einsum it
    is one tiny batched matmul per token, another large share of a training step."""

    @staticmethod
    def forward(ctx, P, X):
        ctx.save_for_backward(P, X)
        out = P[..., 0, :, None] * X[..., 0, None, :]
        for j in range(1, P.shape[-2]):     # addcmul: the einsum's rounding (golden vectors unchanged)
            out = torch.addcmul(out, P[..., j, :, None], X[..., j, None, :])
        return out

    @staticmethod
    def backward(ctx, grad):
        P, X = ctx.saved_tensors
        gX = P[..., :, 0, None] * grad[..., 0, None, :]
        for k in range(1, P.shape[-1]):
            gX += P[..., :, k, None] * grad[..., k, None, :]
        gP = (X.unsqueeze(-2) * grad.unsqueeze(-3)).sum(-1)
        return gP, gX


def hc_post(o, X, post, P):
    return post.unsqueeze(-1) * o.unsqueeze(-2) + StreamMix.apply(P, X)


def hc_head(X, fn, base, scale, cfg):
    mu = hc_mix_logits(X, fn, cfg)
    pre = torch.sigmoid(mu * scale[0] + base) + cfg.hc_eps
    return (pre.unsqueeze(-1) * X).sum(-2)


# --- compressor --------------------------------------------------------------------------------

def pool_candidates(values, logits):
    """Per-channel softmax over the candidate axis (-2) and weighted sum."""
    return (logits.softmax(-2) * values).sum(-2)


class Compressor(nn.Module):
    """Token-level KV compressor (spec §6). ratio 4 overlaps two blocks (kappa 2); others don't."""

    def __init__(self, cfg, ratio, width, is_index):
        super().__init__()
        self.cfg, self.ratio, self.width, self.is_index = cfg, ratio, width, is_index
        self.kappa = 2 if ratio == 4 else 1
        self.wkv = linear(cfg.hidden_size, self.kappa * width)
        self.wgate = linear(cfg.hidden_size, self.kappa * width)
        self.ape = nn.Parameter(torch.zeros(ratio, self.kappa * width))
        self.norm = RMSNorm(width, cfg.rms_norm_eps)

    def project(self, a, positions):
        """Values A and gate logits G (ape added by in-block position) of tokens at positions."""
        return self.wkv(a), self.wgate(a) + self.ape[positions % self.ratio]

    def pool_sequence(self, A, G):
        """All complete blocks of a sequence starting at position 0: [B, T, k*w] -> [B, N, w]."""
        B, T, _ = A.shape
        m, w = self.ratio, self.width
        N = T // m
        A = A[:, :N * m].reshape(B, N, m, self.kappa * w)
        G = G[:, :N * m].reshape(B, N, m, self.kappa * w)
        if self.kappa == 1:
            return pool_candidates(A, G)
        prev_v = F.pad(A[:, :-1, :, :w], (0, 0, 0, 0, 1, 0))
        prev_g = F.pad(G[:, :-1, :, :w], (0, 0, 0, 0, 1, 0), value=float("-inf"))
        return pool_candidates(torch.cat([prev_v, A[..., w:]], 2), torch.cat([prev_g, G[..., w:]], 2))

    def finish(self, pooled, first_positions, angles_fn, numerics):
        """Norm, RoPE at the block's first position j*m, then the entry's storage rounding."""
        c = self.norm(pooled)
        c = apply_rope(c, angles_fn(first_positions), self.cfg.qk_rope_head_dim)
        return round_index(c, numerics) if self.is_index else round_kv(c, self.cfg, numerics)


class Indexer(nn.Module):
    """Lightning indexer of CSA layers (spec §7)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wq_b = linear(cfg.q_lora_rank, cfg.index_n_heads * cfg.index_head_dim)
        self.weights_proj = linear(cfg.hidden_size, cfg.index_n_heads)
        self.compressor = Compressor(cfg, 4, cfg.index_head_dim, is_index=True)

    def queries(self, cq, a, angles, numerics):
        """Rotated, rounded queries [..., nI, cI] and head weights [..., nI]."""
        cfg = self.cfg
        q = self.wq_b(cq).unflatten(-1, (cfg.index_n_heads, cfg.index_head_dim))
        q = round_index(apply_rope(q, angles.unsqueeze(-2), cfg.qk_rope_head_dim), numerics)
        w = self.weights_proj(a) * (cfg.index_head_dim ** -0.5 * cfg.index_n_heads ** -0.5)
        return q, w

    @staticmethod
    def scores(q, w, keys):
        """I[t, j] = sum_h w_h relu(q_h . K_j); q [..., T, nI, cI], keys [..., N, cI] -> [..., T, N]."""
        return torch.einsum("...th,...thn->...tn", w, torch.einsum("...thc,...nc->...thn", q, keys).relu())


def topk_indices(scores, k):
    """Indices of the k largest scores on the last axis; equal scores go to the lower index
    (a fixed rule, so engines agree on ReLU-zero ties)."""
    return scores.sort(dim=-1, descending=True, stable=True).indices[..., :k]


def topk_mask(scores, visible, k):
    """Boolean [.., T, N]: the top-k visible entries per query (k capped by the visible count)."""
    if scores.shape[-1] == 0:
        return visible
    k = min(k, scores.shape[-1])
    idx = topk_indices(scores.masked_fill(~visible, float("-inf")), k)
    return torch.zeros_like(visible).scatter(-1, idx, True) & visible


def attend_sequence(q, keys, valid, sink, scale):
    """Batched form for a whole sequence: q [B, T, H, c], keys [B, S, c], valid [B, T, S] ->
    (output [B, T, H, c], probabilities [B, H, T, S])."""
    s = torch.einsum("bthc,bsc->bhts", q, keys) * scale
    s = s.masked_fill(~valid.unsqueeze(1), float("-inf"))
    sink = sink.view(1, -1, 1, 1).expand(*s.shape[:-1], 1)
    p = torch.cat([s, sink], -1).softmax(-1)[..., :-1]
    return torch.einsum("bhts,bsc->bthc", p, keys), p


def attend(q, keys, valid, sink, scale):
    """One joint softmax with a sink logit. q [..., H, c], keys [..., S, c], valid [..., S] ->
    (output [..., H, c], probabilities [..., H, S])."""
    s = torch.einsum("...hc,...sc->...hs", q, keys) * scale
    s = s.masked_fill(~valid.unsqueeze(-2), float("-inf"))
    sink = sink.expand(*s.shape[:-1]).unsqueeze(-1)
    p = torch.cat([s, sink], -1).softmax(-1)[..., :-1]
    return torch.einsum("...hs,...sc->...hc", p, keys), p


# --- attention ---------------------------------------------------------------------------------

class Attention(nn.Module):
    def __init__(self, cfg, layer_id):
        super().__init__()
        self.cfg, self.layer_id = cfg, layer_id
        self.ratio = cfg.compress_ratios[layer_id]
        d, H, c = cfg.hidden_size, cfg.num_attention_heads, cfg.head_dim
        self.wq_a = linear(d, cfg.q_lora_rank)
        self.q_norm = RMSNorm(cfg.q_lora_rank, cfg.rms_norm_eps)
        self.wq_b = linear(cfg.q_lora_rank, H * c)
        self.wkv = linear(d, c)
        self.kv_norm = RMSNorm(c, cfg.rms_norm_eps)
        self.wo_a = linear(H * c // cfg.o_groups, cfg.o_groups * cfg.o_lora_rank)
        self.wo_b = linear(cfg.o_groups * cfg.o_lora_rank, d)
        self.attn_sink = nn.Parameter(torch.zeros(H))
        if self.ratio:
            self.compressor = Compressor(cfg, self.ratio, c, is_index=False)
        if self.ratio == 4:
            self.indexer = Indexer(cfg)
        self.register_buffer("freqs", rope_freqs(cfg, self.ratio), persistent=False)
        self.scale = c ** -0.5

    def angles(self, positions):
        return rope_angles(positions, self.freqs)

    # Pieces shared with the incremental path (cache.py).
    def query(self, a, angles):
        cfg = self.cfg
        cq = self.q_norm(self.wq_a(a))
        q = self.wq_b(cq).unflatten(-1, (cfg.num_attention_heads, cfg.head_dim))
        q = rms_normalize(q, cfg.rms_norm_eps)
        return cq, apply_rope(q, angles.unsqueeze(-2), cfg.qk_rope_head_dim)

    def key_value(self, a, angles, numerics):
        kv = apply_rope(self.kv_norm(self.wkv(a)), angles, self.cfg.qk_rope_head_dim)
        return round_kv(kv, self.cfg, numerics)

    def output(self, o, angles):
        """Inverse RoPE at the query position, then the grouped low-rank projection."""
        cfg = self.cfg
        o = apply_rope(o, angles.unsqueeze(-2), cfg.qk_rope_head_dim, inverse=True)
        g = cfg.o_groups
        o = o.flatten(-2).unflatten(-1, (g, -1))
        wo_a = self.wo_a.weight.view(g, cfg.o_lora_rank, -1)
        z = torch.einsum("...gk,gok->...go", o, wo_a).flatten(-2)
        return self.wo_b(z)

    def forward(self, a, run):
        """Full sequence from position 0, a: [B, T, d]. In shared-prefix form (run.shared set) a
        holds the rows [P + B*S, d] of one prefix followed by B suffixes (see Transformer)."""
        if run.shared is None:
            return self.sequence(a, 0, None, run)[0]
        B, P, S = run.shared
        out_p, parts = self.sequence(a[:P].unsqueeze(0), 0, None, run, row_weight=B)
        out_s, _ = self.sequence(a[P:].view(B, S, -1), P, parts, run)
        return torch.cat([out_p[0], out_s.flatten(0, 1)])

    def sequence(self, a, start, past, run, row_weight=1):
        """Queries at positions start.. (a: [B, S, d]) over every key from position 0: the tokens
        before `start` come from `past`, the per-token projections of a shared prefix (batch 1,
        broadcast to the B rows; autograd sums their gradients). Returns the output and this
        call's projections. row_weight: how many sequences these rows stand for (indexer loss)."""
        cfg, m = self.cfg, self.ratio
        B, S, _ = a.shape
        T = start + S
        first = max(0, start - cfg.sliding_window + 1)   # the oldest raw key any query here sees
        pos, kpos = torch.arange(start, T), torch.arange(first, T)
        ang = self.angles(pos)
        cq, q = self.query(a, ang)
        kv = self.key_value(a, ang, run.numerics)
        parts = {"kv": kv}
        full = lambda name, x: x if past is None else torch.cat([past[name].expand(B, -1, -1), x], 1)
        win = (kpos[None, :] <= pos[:, None]) & (kpos[None, :] > pos[:, None] - cfg.sliding_window)
        keys = kv if past is None else torch.cat([past["kv"][:, first:].expand(B, -1, -1), kv], 1)
        valid = win.expand(B, S, T - first)
        if run.trace is not None:
            run.trace[f"layers.{self.layer_id}.kv"] = kv.detach()
        if m:
            A, G = self.compressor.project(a, pos)
            if run.trace is not None:
                run.trace[f"layers.{self.layer_id}.compressor_in"] = (A.detach(), G.detach())
            parts["A"], parts["G"] = A, G
            N = T // m
            cmp = self.compressor.finish(self.compressor.pool_sequence(full("A", A), full("G", G)),
                                         torch.arange(N) * m, self.angles, run.numerics)
            visible = (torch.arange(N)[None, :] < ((pos + 1) // m)[:, None]).expand(B, S, N)
            chosen = self.index(a, cq, ang, pos, visible, past, parts, run) if m == 4 else visible
            keys, valid = torch.cat([keys, cmp], 1), torch.cat([valid, chosen], 2)
            if run.trace is not None:
                run.trace[f"layers.{self.layer_id}.compressed"] = cmp.detach()
        o, p = attend_sequence(q, keys, valid, self.attn_sink, self.scale)
        if m == 4 and run.indexer_loss is not None:
            self.indexer_kl(p[..., T - first:].sum(1).detach(), run, row_weight, final=row_weight == 1)
        return self.output(o, ang), parts

    def index(self, a, cq, ang, pos, visible, past, parts, run):
        """Indexer keys/scores for queries at pos over every compressed entry and the selected
        entries [B, S, N]."""
        idx = self.indexer
        if run.indexer_loss is not None:   # the indexer learns from its own loss only
            a, cq = a.detach(), cq.detach()
        A, G = idx.compressor.project(a, pos)
        if run.trace is not None:
            run.trace[f"layers.{self.layer_id}.index_compressor_in"] = (A.detach(), G.detach())
        parts["iA"], parts["iG"] = A, G
        if past is not None:
            A = torch.cat([past["iA"].expand(a.shape[0], -1, -1), A], 1)
            G = torch.cat([past["iG"].expand(a.shape[0], -1, -1), G], 1)
        N = A.shape[1] // 4
        keys = idx.compressor.finish(idx.compressor.pool_sequence(A, G), torch.arange(N) * 4,
                                     self.angles, run.numerics)
        q, w = idx.queries(cq, a, ang, run.numerics)
        scores = Indexer.scores(q, w, keys)
        chosen = visible if run.dense_indexer else topk_mask(scores, visible, self.cfg.index_topk)
        if run.trace is not None:
            run.trace[f"layers.{self.layer_id}.index_keys"] = keys.detach()
            run.trace[f"layers.{self.layer_id}.index_scores"] = scores.detach()
            run.trace[f"layers.{self.layer_id}.index_chosen"] = chosen
        run.index_state[self.layer_id] = (scores, chosen)
        return chosen

    def indexer_kl(self, target, run, row_weight, final):
        """KL(attention mass over the candidate compressed entries || indexer distribution),
        averaged over the query rows that have candidates. A shared prefix's rows count once per
        sequence (row_weight); the layer's mean is recorded by the call that finishes it."""
        scores, chosen = run.index_state.pop(self.layer_id)
        rows = chosen.any(-1)
        total, count = run.indexer_partial.pop(self.layer_id, (0.0, 0))
        if rows.any():
            target = target.masked_fill(~chosen, 0)
            target = target / target.sum(-1, keepdim=True).clamp(min=1e-12)
            logp = scores.masked_fill(~chosen, float("-inf")).log_softmax(-1)
            kl = (target * (target.clamp(min=1e-12).log() - logp)).masked_fill(~chosen, 0).sum(-1)
            total, count = total + row_weight * kl[rows].sum(), count + row_weight * int(rows.sum())
        if not final:
            run.indexer_partial[self.layer_id] = (total, count)
        elif count:
            run.indexer_loss.append(total / count)


# --- MoE ---------------------------------------------------------------------------------------

class Expert(nn.Module):
    def __init__(self, d, inter, limit):
        super().__init__()
        self.limit = limit
        self.w1, self.w2, self.w3 = linear(d, inter), linear(inter, d), linear(d, inter)

    def forward(self, x, weight=None):
        g = self.w1(x).clamp(max=self.limit)
        v = self.w3(x).clamp(-self.limit, self.limit)
        h = F.silu(g) * v
        if weight is not None:
            h = h * weight.unsqueeze(-1)   # routing weight applied before w2
        return self.w2(h)


class Gate(nn.Module):
    def __init__(self, cfg, hashed):
        super().__init__()
        self.cfg, self.hashed = cfg, hashed
        self.weight = nn.Parameter(torch.zeros(cfg.n_routed_experts, cfg.hidden_size))
        if hashed:
            self.register_buffer("tid2eid", torch.zeros(cfg.vocab_size, cfg.num_experts_per_tok,
                                                        dtype=torch.int64))
        else:
            self.bias = nn.Parameter(torch.zeros(cfg.n_routed_experts), requires_grad=False)

    def forward(self, x, tokens):
        s = F.softplus(x @ self.weight.T).sqrt()
        if self.hashed:
            idx = self.tid2eid[tokens]
        else:
            idx = (s + self.bias).topk(self.cfg.num_experts_per_tok, dim=-1).indices
        w = s.gather(-1, idx)
        if self.cfg.norm_topk_prob:
            w = w / w.sum(-1, keepdim=True)
        return idx, w * self.cfg.routed_scaling_factor


class MoE(nn.Module):
    def __init__(self, cfg, hashed):
        super().__init__()
        self.cfg = cfg
        self.gate = Gate(cfg, hashed)
        self.experts = nn.ModuleList(Expert(cfg.hidden_size, cfg.moe_intermediate_size, cfg.swiglu_limit)
                                     for _ in range(cfg.n_routed_experts))
        self.shared_experts = Expert(cfg.hidden_size, cfg.moe_intermediate_size, cfg.swiglu_limit)

    def forward(self, x, tokens, run=None):
        shape = x.shape
        x, tokens = x.reshape(-1, shape[-1]), tokens.reshape(-1)
        idx, w = self.gate(x, tokens)
        y = self.shared_experts(x)
        for e, expert in enumerate(self.experts):
            rows, slot = (idx == e).nonzero(as_tuple=True)
            if rows.numel():
                y = y.index_add(0, rows, expert(x[rows], w[rows, slot]))
        if run is not None and run.expert_load is not None and not self.gate.hashed:
            run.expert_load.append((self.gate, torch.bincount(idx.flatten(), minlength=self.cfg.n_routed_experts)))
        return y.view(shape)


# --- blocks and model --------------------------------------------------------------------------

class Block(nn.Module):
    def __init__(self, cfg, layer_id, mtp=False):
        super().__init__()
        self.cfg, self.layer_id = cfg, layer_id
        d, hc = cfg.hidden_size, cfg.hc_mult
        self.attn_norm = RMSNorm(d, cfg.rms_norm_eps)
        self.ffn_norm = RMSNorm(d, cfg.rms_norm_eps)
        self.attn = Attention(cfg, layer_id)
        self.ffn = MoE(cfg, hashed=layer_id < cfg.num_hash_layers and not mtp)
        for site in ("attn", "ffn"):
            setattr(self, f"hc_{site}_fn", nn.Parameter(torch.zeros((2 + hc) * hc, hc * d)))
            setattr(self, f"hc_{site}_base", nn.Parameter(torch.zeros((2 + hc) * hc)))
            setattr(self, f"hc_{site}_scale", nn.Parameter(torch.ones(3)))

    def hc(self, site):
        return (getattr(self, f"hc_{site}_fn"), getattr(self, f"hc_{site}_base"), getattr(self, f"hc_{site}_scale"))

    def forward(self, X, tokens, run):
        u, post, P = hc_pre(X, *self.hc("attn"), self.cfg)
        X = hc_post(self.attn(self.attn_norm(u), run), X, post, P)
        u, post, P = hc_pre(X, *self.hc("ffn"), self.cfg)
        return hc_post(self.ffn(self.ffn_norm(u), tokens, run), X, post, P)


class MTPBlock(Block):
    """Multi-token prediction: combines the main streams at t with the embedding of token t+1."""

    def __init__(self, cfg, layer_id):
        super().__init__(cfg, layer_id, mtp=True)
        d, hc = cfg.hidden_size, cfg.hc_mult
        self.e_proj, self.h_proj = linear(d, d), linear(d, d)
        self.enorm = RMSNorm(d, cfg.rms_norm_eps)
        self.hnorm = RMSNorm(d, cfg.rms_norm_eps)
        self.norm = RMSNorm(d, cfg.rms_norm_eps)
        self.hc_head_fn = nn.Parameter(torch.zeros(hc, hc * d))
        self.hc_head_base = nn.Parameter(torch.zeros(hc))
        self.hc_head_scale = nn.Parameter(torch.ones(1))

    def combine(self, X, next_embed):
        return self.e_proj(self.enorm(next_embed)).unsqueeze(-2) + self.h_proj(self.hnorm(X))

    def head_input(self, X):
        return self.norm(hc_head(X, self.hc_head_fn, self.hc_head_base, self.hc_head_scale, self.cfg))


class Run:
    """Per-forward options and outputs: numerics, tracing, training-only indexer loss."""

    def __init__(self, numerics, trace=False, train_indexer=False, dense_indexer=False, expert_load=False):
        self.numerics = numerics
        self.trace = {} if trace else None
        self.dense_indexer = dense_indexer
        self.indexer_loss = [] if train_indexer else None
        self.expert_load = [] if expert_load else None
        self.index_state, self.indexer_partial = {}, {}
        self.shared = None   # (B, P, S) while a shared-prefix forward runs


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, hc = cfg.hidden_size, cfg.hc_mult
        self.numerics = Numerics()
        self.embed = nn.Embedding(cfg.vocab_size, d)
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.num_hidden_layers))
        self.mtp = nn.ModuleList(MTPBlock(cfg, cfg.num_hidden_layers + k)
                                 for k in range(cfg.num_nextn_predict_layers))
        self.norm = RMSNorm(d, cfg.rms_norm_eps)
        self.hc_head_fn = nn.Parameter(torch.zeros(hc, hc * d))
        self.hc_head_base = nn.Parameter(torch.zeros(hc))
        self.hc_head_scale = nn.Parameter(torch.ones(1))
        self.head = linear(d, cfg.vocab_size)

    def streams(self, tokens, run):
        """Embed and run every main block: [B, T] -> mHC streams [B, T, hc, d]."""
        X = self.embed(tokens).unsqueeze(-2).expand(*tokens.shape, self.cfg.hc_mult, -1)
        for layer in self.layers:
            X = layer(X, tokens, run)
        return X

    def shared_streams(self, prefix, tokens, run, mtp_input=None):
        """Training form with one prefix common to every row: prefix [P] at positions 0..P-1,
        tokens [B, S] at P..P+S-1. The prefix is computed once and its keys broadcast to the B
        rows (autograd sums the rows' gradients into it), so it costs 1/B of the unshared forward;
        results equal streams(cat(prefix, tokens)). Returns the streams of the prefix [P, hc, d]
        and of the rows [B, S, hc, d]. mtp_input: run the MTP block on these streams instead."""
        B, S = tokens.shape
        P = prefix.shape[0]
        flat = torch.cat([prefix, tokens.flatten()])
        run.shared = (B, P, S)
        try:
            if mtp_input is None:
                X = self.embed(flat).unsqueeze(-2).expand(*flat.shape, self.cfg.hc_mult, -1)
                for layer in self.layers:
                    X = layer(X, flat, run)
            else:
                blk = self.mtp[0]
                X = blk(blk.combine(mtp_input, self.embed(flat)), flat, run)
        finally:
            run.shared = None
        return X[:P], X[P:].view(B, S, *X.shape[1:])

    def shared_mtp_streams(self, prefix, tokens, Xp, Xs, run):
        """mtp_streams in shared-prefix form (positions 0..T-2): the prefix positions pair X_p
        with the next tokens prefix[1:] + the rows' first token, which must be common."""
        if not bool((tokens[:, 0] == tokens[0, 0]).all()):
            raise ValueError("shared_mtp_streams: the rows' first token differs; share one token less")
        nxt = torch.cat([prefix[1:], tokens[:1, 0]])
        return self.shared_streams(nxt, tokens[:, 1:], run, torch.cat([Xp, Xs[:, :-1].flatten(0, 1)]))

    def logits(self, X):
        z = hc_head(X, self.hc_head_fn, self.hc_head_base, self.hc_head_scale, self.cfg)
        return self.head(self.norm(z))

    def mtp_streams(self, X, tokens, run):
        """Depth-1 MTP block over positions t = 0..T-2 (main streams at t, token t+1)."""
        blk = self.mtp[0]
        return blk(blk.combine(X[:, :-1], self.embed(tokens[:, 1:])), tokens[:, 1:], run)

    def mtp_logits(self, X, tokens, run):
        """Logits for token t+2 from positions t = 0..T-2."""
        return self.head(self.mtp[0].head_input(self.mtp_streams(X, tokens, run)))

    def forward(self, tokens, run=None, with_mtp=False):
        run = run or Run(self.numerics)
        X = self.streams(tokens, run)
        out = self.logits(X)
        if with_mtp:
            return out, self.mtp_logits(X, tokens, run)
        return out


# --- initialisation ----------------------------------------------------------------------------

def init_weights(model, seed):
    """Deterministic from-scratch initialisation (also used for random golden checkpoints)."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    hc = cfg.hc_mult
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            elif leaf.endswith("_fn"):
                p.normal_(0, 0.02 / math.sqrt(p.shape[1]), generator=g)
            elif leaf.endswith("_base"):
                p.zero_()
                if p.numel() == (2 + hc) * hc:       # sublayer sites: mean-pool in, near-identity mixing
                    p[:hc] = math.log(1 / (hc - 1))
                    p[2 * hc:] = (torch.eye(hc) * 4.0).flatten()
                else:                                # head: mean-pool
                    p[:] = math.log(1 / (hc - 1))
            elif leaf.endswith("_scale"):
                p.fill_(1.0)
            elif leaf in ("attn_sink", "ape", "bias"):
                p.zero_()
            elif name == "embed.weight":
                p.normal_(0, 1.0, generator=g)
            elif p.dim() == 2:
                std = 1.0 / math.sqrt(p.shape[1])
                if name.endswith(("wo_b.weight", "w2.weight")):
                    std /= math.sqrt(2 * cfg.n_layers_total)
                p.normal_(0, std, generator=g)
        for name, buf in model.named_buffers():
            if name.endswith("tid2eid"):
                k, E = cfg.num_experts_per_tok, cfg.n_routed_experts
                buf.copy_(torch.stack([torch.randperm(E, generator=g)[:k] for _ in range(cfg.vocab_size)]))
    return model
