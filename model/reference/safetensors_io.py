"""safetensors read/write without the safetensors package (format: u64 LE header length, JSON
header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then raw little-endian data),
and model save/load in FP32, BF16 or the released storage format (FP8 e4m3 + E8M0 128x128 block
scales for dense weights, FP4 e2m1 packed two per byte + E8M0 1x32 scales for routed experts)."""

import json
import os
import struct

import torch

import quant
from config import Config, logical_tensors

DTYPES = {  # safetensors dtype -> (torch dtype holding the raw values, bytes per element)
    "F32": (torch.float32, 4), "BF16": (torch.bfloat16, 2), "F16": (torch.float16, 2),
    "I64": (torch.int64, 8), "I32": (torch.int32, 4), "I8": (torch.int8, 1), "U8": (torch.uint8, 1),
    "F8_E4M3": (torch.uint8, 1), "F8_E8M0": (torch.uint8, 1),
}


def write(path, entries, metadata=None):
    """entries: list of (name, safetensors dtype, tensor whose element type matches DTYPES)."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, dtype, t in entries:
        want = DTYPES[dtype][0]
        if t.dtype != want:
            raise TypeError(f"{name}: {dtype} needs a {want} tensor, got {t.dtype}")
        raw = t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


def read(path):
    """-> (dict name -> (dtype string, tensor), metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} exceeds the file size")
    try:
        header = json.loads(data[8:8 + n])
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: header is not valid JSON ({e})") from None
    meta = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        dtype, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dtype}")
        tdtype, size = DTYPES[dtype]
        count = 1
        for s in shape:
            count *= s
        if e - b != count * size or e > len(body) or b < 0:
            raise ValueError(f"{path}: tensor {name} has inconsistent offsets {b}..{e} for shape {shape}")
        raw = torch.frombuffer(bytearray(body[b:e]), dtype=torch.uint8) if count else torch.empty(0, dtype=torch.uint8)
        out[name] = (dtype, raw.view(tdtype).reshape(shape))
    return out, meta


# --- model level ---------------------------------------------------------------------------------

def model_entries(model, fmt):
    """Tensors of a model in a storage format: 'fp32', 'bf16' or 'fp8' (the released layout)."""
    if fmt not in ("fp32", "bf16", "fp8"):
        raise ValueError(f"unknown storage format {fmt!r}")
    state = model.state_dict()
    entries = []
    for name, shape, kind in logical_tensors(model.cfg):
        t = state[name]
        if tuple(t.shape) != shape:
            raise ValueError(f"{name}: model shape {tuple(t.shape)} != planned {shape}")
        if kind == "i64":
            entries.append((name, "I64", t.to(torch.int64)))
        elif fmt == "fp8" and kind == "fp8":
            codes, scale = quant.quantize_fp8_weight(t)
            entries += [(name, "F8_E4M3", codes), (name[:-len("weight")] + "scale", "F8_E8M0", scale)]
        elif fmt == "fp8" and kind == "fp4":
            packed, scale = quant.quantize_fp4_weight(t)
            entries += [(name, "I8", packed), (name[:-len("weight")] + "scale", "F8_E8M0", scale)]
        elif fmt == "fp32" or kind == "fp32":
            entries.append((name, "F32", t.float()))
        else:
            entries.append((name, "BF16", t.to(torch.bfloat16)))
    return entries


def save_model(model, directory, fmt="bf16", metadata=None):
    os.makedirs(directory, exist_ok=True)
    model.cfg.save(os.path.join(directory, "config.json"))
    meta = {"format": "pt", "storage": fmt, **(metadata or {})}
    write(os.path.join(directory, "model.safetensors"), model_entries(model, fmt), meta)


def dequantized_state(tensors):
    """Raw safetensors entries -> FP32 (int64 for tid2eid) state dict with scales folded in."""
    state = {}
    for name, (dtype, t) in tensors.items():
        if name.endswith(".scale"):
            continue
        scale_name = name[:-len("weight")] + "scale" if name.endswith(".weight") else None
        if dtype == "F8_E4M3":
            if scale_name not in tensors:
                raise ValueError(f"{name}: FP8 weight without {scale_name}")
            state[name] = quant.dequantize_fp8_weight(t, tensors[scale_name][1])
        elif dtype == "I8" and scale_name in tensors:
            state[name] = quant.dequantize_fp4_weight(t, tensors[scale_name][1])
        elif dtype in ("F32", "BF16", "F16"):
            state[name] = t.float()
        elif dtype in ("I64", "I32"):
            state[name] = t.to(torch.int64)
        else:
            raise ValueError(f"{name}: cannot load dtype {dtype}")
    return state


def load_model(directory):
    from model import Transformer
    cfg = Config.load(os.path.join(directory, "config.json"))
    tensors, _ = read(os.path.join(directory, "model.safetensors"))
    model = Transformer(cfg)
    state = dequantized_state(tensors)
    expected = set(model.state_dict())
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise ValueError(f"{directory}: checkpoint does not match the config: missing {sorted(missing)[:5]}, "
                         f"unexpected {sorted(unexpected)[:5]}")
    model.load_state_dict(state)
    return model.eval()
