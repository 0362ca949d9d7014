"""Number formats of the released V4 checkpoints and the reference's simulation ops (spec §13).

FP8 e4m3fn (bias 7, max 448, no inf), E8M0 power-of-two scales, FP4 e2m1 packed two per byte
(element 2i in the low nibble). Everything here is exact: values are rounded with
round-to-nearest-even and scales are powers of two, so a C++ port can match bit for bit."""

import math
import torch

FP8_MAX = 448.0
FP4_MAX = 6.0
FP4_GRID = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def ceil_log2(x):
    """Exact ceil(log2(x)) for positive finite x (frexp avoids log2 rounding)."""
    mant, exp = torch.frexp(x)
    return torch.where(mant == 0.5, exp - 1, exp)


def pow2_scale(amax, qmax):
    """Smallest power of two s with amax / s <= qmax (the UE8M0 scale rule)."""
    return torch.ldexp(torch.ones_like(amax), ceil_log2(amax / qmax))


def round_fp8(x):
    """Round FP32 values to the nearest FP8 e4m3fn value (RNE), saturating at +-448."""
    x = x.clamp(-FP8_MAX, FP8_MAX)
    a = x.abs()
    _, exp = torch.frexp(a)          # a = m * 2^exp, m in [0.5, 1)  =>  floor(log2 a) = exp - 1
    e = (exp - 1).clamp(min=-6)      # below 2^-6 the spacing is the subnormal step 2^-9
    step = torch.ldexp(torch.ones_like(a), e - 3)
    return torch.round(x / step) * step


def round_fp4(x):
    """Round to the nearest e2m1 value (RNE: ties go to the even code), saturating at +-6."""
    a = x.abs().clamp(max=FP4_MAX)
    d = (a.unsqueeze(-1) - FP4_GRID.to(a.dtype)).abs()
    best = d == d.min(-1, keepdim=True).values
    even = (torch.arange(8) % 2 == 0)
    code = (best.to(torch.int8) * 2 + (best & even).to(torch.int8)).argmax(-1)
    return torch.sign(x) * FP4_GRID.to(x.dtype)[code]


# --- codes -----------------------------------------------------------------------------------

def _fp8_positive_values():
    vals = []
    for code in range(0x7F):  # 0x7F is NaN
        e, m = code >> 3, code & 7
        vals.append(m / 8 * 2.0 ** -6 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7))
    return torch.tensor(vals, dtype=torch.float64)


FP8_VALUES = _fp8_positive_values()


def fp8_decode(codes):
    """uint8 tensor of e4m3fn codes -> float32 (NaN codes decode to NaN)."""
    c = codes.to(torch.int64)
    mag = FP8_VALUES.to(torch.float32)[(c & 0x7F).clamp(max=0x7E)]
    mag = torch.where((c & 0x7F) == 0x7F, torch.full_like(mag, float("nan")), mag)
    return torch.where(c & 0x80 != 0, -mag, mag)


def fp8_encode(x):
    """float32 values already on the FP8 grid (see round_fp8) -> uint8 codes."""
    a = x.abs().to(torch.float64)
    idx = torch.searchsorted(FP8_VALUES, a.contiguous())
    if not torch.equal(FP8_VALUES[idx.clamp(max=0x7E)], a):
        raise ValueError("fp8_encode: value not representable in e4m3fn; round it first")
    return (idx | ((x < 0) | ((x == 0) & (torch.signbit(x)))).to(torch.int64) << 7).to(torch.uint8)


def fp4_decode(codes):
    """int tensor of 4-bit codes -> float32."""
    c = codes.to(torch.int64)
    mag = FP4_GRID[c & 7]
    return torch.where(c & 8 != 0, -mag, mag)


def fp4_encode(x):
    """Values already on the e2m1 grid -> 4-bit codes (int64)."""
    a = x.abs()
    idx = torch.searchsorted(FP4_GRID, a.contiguous())
    if not torch.equal(FP4_GRID[idx.clamp(max=7)], a):
        raise ValueError("fp4_encode: value not representable in e2m1; round it first")
    return idx | ((x < 0).to(torch.int64) << 3)


def e8m0_decode(codes):
    c = codes.to(torch.int64)
    v = torch.ldexp(torch.ones(c.shape), c - 127)
    return torch.where(c == 255, torch.full_like(v, float("nan")), v)


def e8m0_encode(scales):
    """Power-of-two float scales -> E8M0 bytes."""
    _, exp = torch.frexp(scales)
    e = exp - 1 + 127
    if (e < 0).any() or (e > 254).any() or not torch.equal(torch.ldexp(torch.ones_like(scales), exp - 1), scales):
        raise ValueError("e8m0_encode: scales must be powers of two within 2^-127..2^127")
    return e.to(torch.uint8)


# --- weights -----------------------------------------------------------------------------------

def quantize_fp8_weight(w, block=128):
    """[out, in] float -> (uint8 codes [out, in], E8M0 scale bytes [ceil(out/128), ceil(in/128)])."""
    out_f, in_f = w.shape
    bo, bi = math.ceil(out_f / block), math.ceil(in_f / block)
    pad = torch.zeros(bo * block, bi * block)
    pad[:out_f, :in_f] = w.float()
    blocks = pad.view(bo, block, bi, block)
    amax = blocks.abs().amax(dim=(1, 3)).clamp(min=1e-4)
    scale = pow2_scale(amax, FP8_MAX)
    q = round_fp8(blocks / scale[:, None, :, None]).view(bo * block, bi * block)[:out_f, :in_f]
    return fp8_encode(q), e8m0_encode(scale)


def dequantize_fp8_weight(codes, scale_codes, block=128):
    w = fp8_decode(codes)
    s = e8m0_decode(scale_codes)
    s = s.repeat_interleave(block, 0)[:w.shape[0]].repeat_interleave(block, 1)[:, :w.shape[1]]
    return w * s


def quantize_fp4_weight(w, block=32):
    """[out, in] -> (int8 packed [out, in/2], low nibble = even element; E8M0 scales [out, in/32])."""
    out_f, in_f = w.shape
    if in_f % block:
        raise ValueError(f"fp4 weights need in_features % {block} == 0, got {in_f}")
    blocks = w.float().view(out_f, in_f // block, block)
    amax = blocks.abs().amax(-1).clamp(min=FP4_MAX * 2.0 ** -126)
    scale = pow2_scale(amax, FP4_MAX)
    codes = fp4_encode(round_fp4(blocks / scale[..., None])).view(out_f, in_f)
    packed = codes[:, 0::2] | (codes[:, 1::2] << 4)
    return packed.to(torch.uint8).view(torch.int8), e8m0_encode(scale)


def dequantize_fp4_weight(packed, scale_codes, block=32):
    p = packed.view(torch.uint8).to(torch.int64)
    codes = torch.stack([p & 15, p >> 4], dim=-1).view(p.shape[0], p.shape[1] * 2)
    return fp4_decode(codes) * e8m0_decode(scale_codes).repeat_interleave(block, 1)


# --- activation simulations ------------------------------------------------------------------

def fp8_simulate(x, block=64):
    """act_quant round trip on the last dim in blocks (power-of-two scales); the KV 'nope' dims
    use blocks of 64. Last dim must be a multiple of block."""
    shape = x.shape
    xb = x.reshape(*shape[:-1], shape[-1] // block, block)
    amax = xb.abs().amax(-1, keepdim=True).clamp(min=1e-4)
    s = pow2_scale(amax, FP8_MAX)
    return (round_fp8(xb / s) * s).reshape(shape)


def fp4_simulate(x, block=32):
    """fp4_act_quant round trip (indexer q and keys), blocks of 32 on the last dim."""
    shape = x.shape
    xb = x.reshape(*shape[:-1], shape[-1] // block, block)
    amax = xb.abs().amax(-1, keepdim=True).clamp(min=FP4_MAX * 2.0 ** -126)
    s = pow2_scale(amax, FP4_MAX)
    return (round_fp4(xb / s) * s).reshape(shape)


def hadamard(n):
    """Orthonormal Walsh-Hadamard matrix, Sylvester (natural) order."""
    h = torch.ones(1, 1)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h / math.sqrt(n)


def hadamard_rotate(x):
    n = x.shape[-1]
    return x @ hadamard(n).to(x.dtype).T
