#!/usr/bin/python3
"""Evaluates a state_dict exported by mnemo-train in PyTorch.

Builds the torch.nn.Sequential that mnemo-train's model mirrors, loads the file with
torch.load(weights_only=True) and load_state_dict(strict=True), evaluates the 10,000
Fashion-MNIST test images with the same preprocessing, and prints, as mnemo-train
--eval does, {"accuracy": a, "loss": l} as its last line.
"""
import argparse
import gzip
import json
import os

import numpy as np
import torch
from torch import nn

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def make_model(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 10))
    raise SystemExit(f"unknown model {name!r}: expected mlp or cnn")


def read_idx(directory, stem):
    """An IDX file, gzipped or not, as a numpy array of its shape."""
    for name, opener in ((stem + ".gz", gzip.open), (stem, open)):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with opener(path, "rb") as f:
                data = f.read()
            rank = data[3]
            shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)
    raise SystemExit(f"no {stem}[.gz] in {directory}")


def test_set(directory):
    images = read_idx(directory, "t10k-images-idx3-ubyte")
    labels = read_idx(directory, "t10k-labels-idx1-ubyte")
    # The same float32 arithmetic as mnemo-train: (pixel / 255 - 0.2860) / 0.3530.
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    x = (x / np.float32(255.0) - np.float32(0.2860)) / np.float32(0.3530)
    return x, torch.from_numpy(labels.astype(np.int64))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state_dict", help="a .pt file written by mnemo")
    parser.add_argument("--model", default="cnn", choices=["mlp", "cnn"])
    parser.add_argument("--data", default=DEFAULT_DATA)
    args = parser.parse_args()

    model = make_model(args.model)
    model.load_state_dict(torch.load(args.state_dict, map_location="cpu", weights_only=True))
    model.eval()
    x, y = test_set(args.data)
    correct, loss = 0, 0.0
    with torch.no_grad():
        for start in range(0, len(y), 1000):
            logits = model(x[start:start + 1000])
            loss += nn.functional.cross_entropy(logits, y[start:start + 1000], reduction="sum").item()
            correct += (logits.argmax(1) == y[start:start + 1000]).sum().item()
    print(json.dumps({"accuracy": correct / len(y), "loss": loss / len(y)}))


if __name__ == "__main__":
    main()
