#!/usr/bin/python3
"""Writes the seeds of the fuzz corpora that only PyTorch can make.

    /usr/bin/python3 fuzz/make_torch_seeds.py <corpus-dir>

Debian's python3-torch (PyTorch 1.13): the legacy format (torch.save with
_use_new_zipfile_serialization=False), a whole pickled module (read with salvage),
parameters, records deflated by Python's zipfile, and protocol 4 and 5 pickles of plain
data. The seeds mnemo can make itself come from make_seeds.cpp.
"""
import collections
import io
import os
import pickle
import sys
import zipfile

import torch


def write(corpus, target, name, data):
    os.makedirs(os.path.join(corpus, target), exist_ok=True)
    path = os.path.join(corpus, target, name)
    with open(path, "wb") as f:
        f.write(data)
    print(f"{path}: {len(data)} bytes")


def saved(obj, legacy=False):
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def data_pkl(archive):
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        return z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0])


def deflated(archive):
    """The same records, deflated, in reverse order, as other zip writers may lay them out."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as src, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in reversed(src.namelist()):
            dst.writestr(name, src.read(name))
    return out.getvalue()


def main():
    corpus = sys.argv[1]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    sd = model.state_dict()
    w = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    views = {"w": w, "row": w[1], "col": w[:, 1], "i16": torch.tensor([1, -2], dtype=torch.int16),
             "f64": torch.tensor([0.5], dtype=torch.float64), "empty": torch.zeros(0)}
    params = list(torch.nn.Linear(2, 1).parameters())

    write(corpus, "pt_legacy", "torch113_state_dict.pt", saved(sd, legacy=True))
    write(corpus, "pt_legacy", "torch113_views.pt", saved(views, legacy=True))
    write(corpus, "pt_legacy", "torch113_parameters.pt", saved(params, legacy=True))
    # A whole module: the legacy format names its class with its source code.
    write(corpus, "pt_legacy", "torch113_module.pt", saved(torch.nn.Linear(2, 2), legacy=True))
    write(corpus, "pt_load", "torch113_legacy_views.pt", saved(views, legacy=True))

    module_pt = saved(torch.nn.Linear(2, 2))
    write(corpus, "pt_load", "torch113_module.pt", module_pt)
    write(corpus, "pt_load", "torch113_parameters.pt", saved(params))
    write(corpus, "pt_load", "torch113_views_deflated.pt", deflated(saved(views)))
    write(corpus, "zip_reader", "torch113_views_deflated.pt", deflated(saved(views)))
    write(corpus, "unpickler", "torch113_module.pkl", data_pkl(module_pt))
    write(corpus, "unpickler", "torch113_parameters.pkl", data_pkl(saved(params)))
    write(corpus, "unpickler", "torch113_views.pkl", data_pkl(saved(views)))

    plain = {"ints": [0, 1, -1, 255, 65535, 2**31 - 1, -2**31, 2**63 - 1, 2**100, -2**70],
             "floats": (0.5, -0.0, float("inf")), "text": "h\u00e9llo \u2603",
             "bytes": b"\x00\xff", "bytearray": bytearray(b"ab"), "none": None, "flags": [True, False],
             "set": {1, 2}, "frozen": frozenset({"a"}),
             "ordered": collections.OrderedDict([("x", 1), ("y", [])]),
             "nested": {1: {"deep": [[[]]]}}}
    for protocol in (2, 3, 4, 5):
        write(corpus, "unpickler", f"python_protocol{protocol}.pkl", pickle.dumps(plain, protocol=protocol))


if __name__ == "__main__":
    main()
