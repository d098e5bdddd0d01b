// Python shared by the live .pt tests: the canonical JSON of a checkpoint's content,
// written exactly as mnemo::to_json(value, {.hash = true}) writes it, so that the two
// sides can be compared as text.
#pragma once

namespace mnemo::testing {

inline constexpr const char* kCanonicalJsonPython = R"PY(
import collections, hashlib, json, math, os, re, sys
import torch

def tensor_sha256(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        data = t.view(torch.int16).numpy().tobytes()
    elif t.dtype == torch.bool:
        data = t.to(torch.uint8).numpy().tobytes()
    else:
        data = t.numpy().tobytes()
    return hashlib.sha256(data).hexdigest()

_tensors = []

def _canon(obj, device):
    if isinstance(obj, torch.Tensor):
        _tensors.append(json.dumps({"tensor": {
            "dtype": str(obj.dtype)[len("torch."):], "shape": list(obj.shape),
            "device": device or str(obj.device), "sha256": tensor_sha256(obj)}}))
        return "@@tensor%d@@" % (len(_tensors) - 1)
    if isinstance(obj, dict):
        return {str(k): _canon(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canon(v, device) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if obj != obj else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, bytes):  # written on one line, like a tensor
        _tensors.append(json.dumps({"bytes": obj.hex()}))
        return "@@tensor%d@@" % (len(_tensors) - 1)
    return obj

def canonical_json(obj, device=None):
    _tensors.clear()
    text = json.dumps(_canon(obj, device), indent=2, ensure_ascii=False)
    return re.sub(r'"@@tensor(\d+)@@"', lambda m: _tensors[int(m.group(1))], text)

def write_text(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
)PY";

}  // namespace mnemo::testing
