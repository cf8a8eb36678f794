#!/usr/bin/env python3
"""Load a cldqn checkpoint into PyTorch and evaluate it in Gymnasium's Taxi-v3 (v4 without rain or fickleness).

The checkpoint is a safetensors file whose tensors carry PyTorch state_dict
names (embedding.weight, fc1.weight, fc1.bias, ..., out.weight, out.bias);
its metadata gives the shape (n_states, n_actions, embed, hidden, layers).
This script builds an nn.Module of that shape, loads the weights with
safetensors.torch.load_file + load_state_dict (strict), and runs the greedy
policy in Gymnasium's own Taxi-v3 from each of the 300 start states
(env.unwrapped.s = state after reset), printing mean return and success rate.

Needs torch, gymnasium and safetensors in one interpreter, e.g.
    /usr/bin/python3 -m pip install --user safetensors gymnasium   (Debian's python3-torch)
Usage:
    python3 tools/load_checkpoint.py CKPT [--json] [--max-steps 200]
"""
import argparse
import json
import sys

import gymnasium as gym
import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file


class QNet(nn.Module):
    """embedding -> (Linear + ReLU) x layers -> Linear, as cldqn's layout."""

    def __init__(self, n_states, n_actions, embed, hidden, layers):
        super().__init__()
        self.layers = layers
        self.embedding = nn.Embedding(n_states, embed)
        width = embed
        for i in range(1, layers + 1):
            setattr(self, f"fc{i}", nn.Linear(width, hidden))
            width = hidden
        self.out = nn.Linear(width, n_actions)

    def forward(self, s):
        x = self.embedding(s)
        for i in range(1, self.layers + 1):
            x = torch.relu(getattr(self, f"fc{i}")(x))
        return self.out(x)


# Gymnasium 1.4 retired the "Taxi-v3" id; Taxi-v4 without rain and fickleness
# has Taxi-v3's dynamics. Older Gymnasium versions only know Taxi-v3.
def make_taxi():
    try:
        return gym.make("Taxi-v4", is_rainy=False, fickle_passenger=False)
    except gym.error.Error:
        return gym.make("Taxi-v3")


def start_states():
    """The 300 states Taxi-v3 can start in: passenger waiting, destination elsewhere."""
    env = make_taxi()
    starts = []
    for s in range(500):
        row, col, pas, dest = env.unwrapped.decode(s)
        if pas < 4 and pas != dest:
            starts.append(s)
    env.close()
    return starts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--max-steps", type=int, default=200)
    args = ap.parse_args()

    try:
        with safe_open(args.checkpoint, framework="pt") as f:
            meta = f.metadata() or {}
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types, not OSError
        sys.exit(f"load_checkpoint: {args.checkpoint}: {e}")
    if meta.get("format") != "cldqn":
        sys.exit(f"load_checkpoint: {args.checkpoint}: not a cldqn checkpoint")
    try:
        shape = {k: int(meta[k]) for k in ("n_states", "n_actions", "embed", "hidden", "layers")}
    except (KeyError, ValueError) as e:
        sys.exit(f"load_checkpoint: {args.checkpoint}: bad or missing shape metadata ({e})")
    # The metadata decides the model's size: check it against the tensors
    # before allocating anything (a damaged value could ask for gigabytes).
    want = {"embedding.weight": (shape["n_states"], shape["embed"])}
    width = shape["embed"]
    for i in range(1, shape["layers"] + 1):
        want[f"fc{i}.weight"], want[f"fc{i}.bias"] = (shape["hidden"], width), (shape["hidden"],)
        width = shape["hidden"]
    want["out.weight"], want["out.bias"] = (shape["n_actions"], width), (shape["n_actions"],)
    if shapes != want:
        sys.exit(f"load_checkpoint: {args.checkpoint}: shape metadata {shape} disagrees with "
                 f"the tensors {shapes}")
    net = QNet(**shape)
    net.load_state_dict(load_file(args.checkpoint), strict=True)
    net.eval()

    env = make_taxi()
    starts = start_states()
    total, wins, steps = 0.0, 0, 0
    with torch.no_grad():
        for s0 in starts:
            env.reset(seed=0)
            env.unwrapped.s = s0
            s = s0
            for _ in range(args.max_steps):
                a = int(torch.argmax(net(torch.tensor([s])), dim=1))  # lowest index on ties
                s, r, terminated, truncated, _ = env.step(a)
                total += r
                steps += 1
                if terminated:
                    wins += 1
                    break
    n = len(starts)
    res = {"episodes": n, "mean_return": total / n, "success_rate": wins / n, "mean_steps": steps / n}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"Gymnasium Taxi-v3, {n} start states: mean return {res['mean_return']:.3f}, "
              f"success {100 * res['success_rate']:.1f}%, mean steps {res['mean_steps']:.2f}")


if __name__ == "__main__":
    main()
