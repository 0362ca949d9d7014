"""DeepSeek-V4 configuration (HF config.json field names) and the symbolic plan of a checkpoint:
per-tensor shapes and dtypes, parameter counts, KV-cache bytes per token. Nothing is allocated,
so the real 284 B / 1.6 T configurations can be planned on any machine."""

import json
import math
from dataclasses import dataclass, field, asdict


@dataclass
class Config:
    vocab_size: int = 129280
    hidden_size: int = 4096
    num_hidden_layers: int = 43
    num_attention_heads: int = 64
    num_key_value_heads: int = 1
    head_dim: int = 512
    qk_rope_head_dim: int = 64
    q_lora_rank: int = 1024
    o_groups: int = 8
    o_lora_rank: int = 1024
    sliding_window: int = 128
    compress_ratios: list = field(default_factory=list)
    index_n_heads: int = 64
    index_head_dim: int = 128
    index_topk: int = 512
    n_routed_experts: int = 256
    n_shared_experts: int = 1
    num_experts_per_tok: int = 6
    moe_intermediate_size: int = 2048
    scoring_func: str = "sqrtsoftplus"
    topk_method: str = "noaux_tc"
    routed_scaling_factor: float = 1.5
    norm_topk_prob: bool = True
    num_hash_layers: int = 3
    swiglu_limit: float = 10.0
    hc_mult: int = 4
    hc_sinkhorn_iters: int = 20
    hc_eps: float = 1e-6
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    compress_rope_theta: float = 160000.0
    rope_scaling: dict = field(default_factory=lambda: {
        "type": "yarn", "factor": 16, "original_max_position_embeddings": 65536,
        "beta_fast": 32, "beta_slow": 1})
    max_position_embeddings: int = 1048576
    num_nextn_predict_layers: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 1
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    expert_dtype: str = "fp4"
    quantization_config: dict = field(default_factory=lambda: {
        "activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
        "scale_fmt": "ue8m0", "weight_block_size": [128, 128]})
    extra: dict = field(default_factory=dict)  # unknown keys, written back unchanged

    def __post_init__(self):
        if not self.compress_ratios:
            self.compress_ratios = [0] * (self.num_hidden_layers + self.num_nextn_predict_layers)
        self.validate()

    def validate(self):
        def need(cond, what):
            if not cond:
                raise ValueError(f"config: {what}")
        need(len(self.compress_ratios) == self.num_hidden_layers + self.num_nextn_predict_layers,
             f"compress_ratios has {len(self.compress_ratios)} entries, expected "
             f"num_hidden_layers + num_nextn_predict_layers = "
             f"{self.num_hidden_layers + self.num_nextn_predict_layers}")
        need(all(r in (0,) or r > 1 for r in self.compress_ratios), "compress ratios must be 0 or > 1")
        need(self.num_key_value_heads == 1, "V4 has one shared K=V head (num_key_value_heads = 1)")
        need(self.n_shared_experts == 1, "the reference supports exactly one shared expert")
        need(self.num_attention_heads % self.o_groups == 0, "num_attention_heads % o_groups != 0")
        need(self.qk_rope_head_dim % 2 == 0 and self.qk_rope_head_dim <= self.head_dim,
             "qk_rope_head_dim must be even and <= head_dim")
        need(self.qk_rope_head_dim <= self.index_head_dim, "qk_rope_head_dim > index_head_dim")
        need(self.index_head_dim & (self.index_head_dim - 1) == 0,
             "index_head_dim must be a power of two (Hadamard rotation)")
        need(self.num_experts_per_tok <= self.n_routed_experts, "num_experts_per_tok > n_routed_experts")
        need(self.scoring_func == "sqrtsoftplus", f"scoring_func {self.scoring_func!r} unsupported")
        need(self.vocab_size > 0 and self.hidden_size > 0, "sizes must be positive")

    @property
    def n_layers_total(self):
        return self.num_hidden_layers + self.num_nextn_predict_layers

    @classmethod
    def from_dict(cls, d):
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        args = {k: v for k, v in d.items() if k in known}
        cfg = cls(**args)
        cfg.extra = {k: v for k, v in d.items() if k not in known}
        return cfg

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def to_dict(self):
        d = asdict(self)
        extra = d.pop("extra")
        d["architectures"] = ["DeepseekV4ForCausalLM"]
        d["model_type"] = "deepseek_v4"
        d["num_key_value_heads"] = 1
        d.update(extra)
        return d

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")


# ---------------------------------------------------------------------------------------------
# Tensor plan: official names (spec §15) with shapes and storage dtypes.

def layer_tensors(cfg, prefix, layer_id, mtp=False):
    """(name, shape, kind) for one block; kind says how the released checkpoint stores it:
    'fp8' (E8M0 128x128 block scale beside it), 'fp4' (packed, E8M0 1x32 scale), 'bf16', 'fp32', 'i64'."""
    d, H, c = cfg.hidden_size, cfg.num_attention_heads, cfg.head_dim
    hc, E, inter = cfg.hc_mult, cfg.n_routed_experts, cfg.moe_intermediate_size
    ratio = cfg.compress_ratios[layer_id]
    out = []
    add = lambda name, shape, kind: out.append((prefix + name, tuple(shape), kind))
    add("attn_norm.weight", [d], "bf16")
    add("ffn_norm.weight", [d], "bf16")
    for site in ("attn", "ffn"):
        add(f"hc_{site}_fn", [(2 + hc) * hc, hc * d], "fp32")
        add(f"hc_{site}_base", [(2 + hc) * hc], "fp32")
        add(f"hc_{site}_scale", [3], "fp32")
    add("attn.wq_a.weight", [cfg.q_lora_rank, d], "fp8")
    add("attn.q_norm.weight", [cfg.q_lora_rank], "bf16")
    add("attn.wq_b.weight", [H * c, cfg.q_lora_rank], "fp8")
    add("attn.wkv.weight", [c, d], "fp8")
    add("attn.kv_norm.weight", [c], "bf16")
    add("attn.wo_a.weight", [cfg.o_groups * cfg.o_lora_rank, H * c // cfg.o_groups], "fp8")
    add("attn.wo_b.weight", [d, cfg.o_groups * cfg.o_lora_rank], "fp8")
    add("attn.attn_sink", [H], "fp32")
    if ratio:
        kappa = 2 if ratio == 4 else 1
        add("attn.compressor.wkv.weight", [kappa * c, d], "bf16")
        add("attn.compressor.wgate.weight", [kappa * c, d], "bf16")
        add("attn.compressor.ape", [ratio, kappa * c], "fp32")
        add("attn.compressor.norm.weight", [c], "bf16")
    if ratio == 4:
        nI, cI = cfg.index_n_heads, cfg.index_head_dim
        add("attn.indexer.wq_b.weight", [nI * cI, cfg.q_lora_rank], "fp8")
        add("attn.indexer.weights_proj.weight", [nI, d], "bf16")
        add("attn.indexer.compressor.wkv.weight", [2 * cI, d], "bf16")
        add("attn.indexer.compressor.wgate.weight", [2 * cI, d], "bf16")
        add("attn.indexer.compressor.ape", [4, 2 * cI], "fp32")
        add("attn.indexer.compressor.norm.weight", [cI], "bf16")
    add("ffn.gate.weight", [E, d], "bf16")
    if layer_id < cfg.num_hash_layers and not mtp:
        add("ffn.gate.tid2eid", [cfg.vocab_size, cfg.num_experts_per_tok], "i64")
    else:
        add("ffn.gate.bias", [E], "fp32")
    expert_kind = "fp4" if cfg.expert_dtype == "fp4" else "fp8"
    for e in range(E):
        add(f"ffn.experts.{e}.w1.weight", [inter, d], expert_kind)
        add(f"ffn.experts.{e}.w3.weight", [inter, d], expert_kind)
        add(f"ffn.experts.{e}.w2.weight", [d, inter], expert_kind)
    add("ffn.shared_experts.w1.weight", [inter, d], "fp8")
    add("ffn.shared_experts.w3.weight", [inter, d], "fp8")
    add("ffn.shared_experts.w2.weight", [d, inter], "fp8")
    if mtp:
        add("e_proj.weight", [d, d], "fp8")
        add("h_proj.weight", [d, d], "fp8")
        add("enorm.weight", [d], "bf16")
        add("hnorm.weight", [d], "bf16")
        add("norm.weight", [d], "bf16")
        add("hc_head_fn", [hc, hc * d], "fp32")
        add("hc_head_base", [hc], "fp32")
        add("hc_head_scale", [1], "fp32")
    return out


def logical_tensors(cfg):
    """Every weight of the model in its logical (de-quantised) shape, official names."""
    d, hc = cfg.hidden_size, cfg.hc_mult
    out = [("embed.weight", (cfg.vocab_size, d), "bf16")]
    for i in range(cfg.num_hidden_layers):
        out += layer_tensors(cfg, f"layers.{i}.", i)
    for k in range(cfg.num_nextn_predict_layers):
        out += layer_tensors(cfg, f"mtp.{k}.", cfg.num_hidden_layers + k, mtp=True)
    out += [("norm.weight", (d,), "bf16"), ("hc_head_fn", (hc, hc * d), "fp32"),
            ("hc_head_base", (hc,), "fp32"), ("hc_head_scale", (1,), "fp32"),
            ("head.weight", (cfg.vocab_size, d), "bf16")]
    return out


def stored_tensors(cfg):
    """The released storage layout: (name, shape, dtype string of safetensors)."""
    out = []
    for name, shape, kind in logical_tensors(cfg):
        if kind == "fp8":
            out.append((name, shape, "F8_E4M3"))
            out.append((name[:-len("weight")] + "scale",
                        (math.ceil(shape[0] / 128), math.ceil(shape[1] / 128)), "F8_E8M0"))
        elif kind == "fp4":
            out.append((name, (shape[0], shape[1] // 2), "I8"))
            out.append((name[:-len("weight")] + "scale", (shape[0], shape[1] // 32), "F8_E8M0"))
        else:
            out.append((name, shape, {"bf16": "BF16", "fp32": "F32", "i64": "I64"}[kind]))
    return out


# ---------------------------------------------------------------------------------------------
# Counts.

def param_counts(cfg):
    """Parameter counts (logical weights; tid2eid tables and scales excluded).
    Returns dict: total (main model), mtp, active (main model, per token)."""
    numel = lambda s: math.prod(s)
    total = mtp = active = 0
    for name, shape, kind in logical_tensors(cfg):
        if kind == "i64":
            continue
        n = numel(shape)
        if name.startswith("mtp."):
            mtp += n
            continue
        total += n
        if ".ffn.experts." in name:
            n = n * cfg.num_experts_per_tok // cfg.n_routed_experts
        if name == "embed.weight":
            n = 0  # an embedding row lookup is not compute; the head is
        active += n
    return {"total": total, "mtp": mtp, "active": active}


def kv_bytes(cfg, tokens, entry_bytes=None, index_key_bytes=None):
    """KV-cache bytes of one sequence of `tokens` tokens (main layers; fixed compressor states
    excluded). Defaults: production layout, 584 B per 512-d entry (448 FP8 + 64 BF16 + 8 scale
    bytes) and FP4 indexer keys (c_I/2 + c_I/32 scale bytes)."""
    c, r = cfg.head_dim, cfg.qk_rope_head_dim
    if entry_bytes is None:
        entry_bytes = (c - r) + 2 * r + math.ceil((c - r) / 64) + 1
    if index_key_bytes is None:
        index_key_bytes = cfg.index_head_dim // 2 + cfg.index_head_dim // 32
    total = 0
    for ratio in cfg.compress_ratios[:cfg.num_hidden_layers]:
        total += min(tokens, cfg.sliding_window) * entry_bytes
        if ratio:
            total += (tokens // ratio) * entry_bytes
        if ratio == 4:
            total += (tokens // ratio) * index_key_bytes
    return total


def plan(cfg, context=1 << 20):
    counts = param_counts(cfg)
    kv = kv_bytes(cfg, context)
    ratios = cfg.compress_ratios[:cfg.num_hidden_layers]
    return {
        "params_total": counts["total"],
        "params_mtp": counts["mtp"],
        "params_active": counts["active"],
        "layers": {"swa": ratios.count(0), "csa": ratios.count(4),
                   "hca": sum(1 for r in ratios if r > 4)},
        "kv_bytes_at_context": kv,
        "kv_bytes_per_token": kv / context,
        "kv_bytes_per_token_reference_bf16": kv_bytes(cfg, context, 2 * cfg.head_dim,
                                                      2 * cfg.index_head_dim) / context,
        "context": context,
    }


if __name__ == "__main__":
    import sys
    for path in sys.argv[1:]:
        p = plan(Config.load(path))
        print(f"{path}: {p['params_total']/1e9:.1f} B total (+{p['params_mtp']/1e9:.1f} B MTP), "
              f"{p['params_active']/1e9:.1f} B active, layers {p['layers']}, "
              f"KV {p['kv_bytes_per_token']:.0f} B/token at {p['context']} tokens "
              f"({p['kv_bytes_at_context']/2**30:.2f} GiB), reference BF16 layout "
              f"{p['kv_bytes_per_token_reference_bf16']:.0f} B/token")
