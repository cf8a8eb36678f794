#!/usr/bin/env python3
"""Writes tests/data/safetensors_ref.safetensors with the reference safetensors
library, for test_checkpoint.c: a cldqn checkpoint of a small network
(embed 3, hidden 4, 1 hidden layer) whose weights are value = tensor_index +
element_index / 1000 (exact in float32 up to rounding of /1000, which the C
test reproduces the same way), plus the metadata cldqn writes.

Needs: python3 with numpy and safetensors (pip install safetensors numpy).
Usage: python3 tools/make_safetensors_data.py [OUT]
"""
import json
import sys

import numpy as np
from safetensors.numpy import save_file

S, A, E, H = 500, 6, 3, 4
shapes = [
    ("embedding.weight", (S, E)),
    ("fc1.weight", (H, E)),
    ("fc1.bias", (H,)),
    ("out.weight", (A, H)),
    ("out.bias", (A,)),
]
tensors = {}
for k, (name, shape) in enumerate(shapes):
    n = int(np.prod(shape))
    v = (np.float32(k) + np.arange(n, dtype=np.float32) / np.float32(1000)).astype(np.float32)
    tensors[name] = v.reshape(shape)
config = {"preset": "default", "seed": 7, "embed": E, "hidden": H, "layers": 1, "gamma": 0.9}
meta = {
    "format": "cldqn",
    "version": "0.1.0",
    "config": json.dumps(config),
    "n_states": str(S),
    "n_actions": str(A),
    "embed": str(E),
    "hidden": str(H),
    "layers": "1",
}
out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/safetensors_ref.safetensors"
save_file(tensors, out, metadata=meta)
print("wrote", out)
