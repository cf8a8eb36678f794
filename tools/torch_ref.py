#!/usr/bin/python3
"""torch_ref.py - writes tests/data/torch_ref.bin: DQN updates computed by PyTorch.

The C reference (host/core/ref.c, ref_update) is tested against this file by
tests/test_ref.c. Run with Debian's system interpreter, which has PyTorch 1.13
(python3-torch); the pyenv `python3` has no torch:

    /usr/bin/python3 tools/torch_ref.py [tests/data/torch_ref.bin]

What it computes, per case: the network embedding -> L x (Linear+ReLU) ->
Linear built from nn.Embedding / nn.Linear (state_dict order = cldqn_layout
order), initial weights drawn with numpy (seeded) and loaded into it, the
target network equal to the initial weights, and several updates on stored
minibatches:
  mode 0 (mean): y = r + gamma (1-term) max_a Q_target(s'); loss =
      F.mse_loss or F.huber_loss(delta) of Q(s)[a] vs y (mean over the batch);
      backward; optional torch.nn.utils.clip_grad_norm_; torch.optim.Adam.
  mode 1 (per sample, the seed article's Keras loop): for each sample in order,
      Keras' MSE over the A outputs with target = prediction except at a, one
      Adam step each with Keras/TF2's Adam written out by hand (eps outside the
      bias correction, lr_t = lr sqrt(1-b2^t)/(1-b1^t)).
Hyperparameters are float32 values (so C's float config holds exactly the
numbers PyTorch used).

File format (little-endian), version 1:
  char    magic[8] = "CLDQNTRF"
  uint32  version = 1
  uint32  n_cases
  per case:
    int32   S, A, E, H, L, B, n_steps, mode (0 mean, 1 per sample),
            loss (0 MSE, 1 Huber), adam (0 torch, 1 keras), P (parameter count)
    float32 gamma, lr, beta1, beta2, eps, huber_delta, max_grad_norm (0 = off)
    float32 params0[P]      initial online weights = target weights, flat
                            in state_dict order, each tensor row-major
    per step:
      int32   state[B], action[B], next_state[B]
      float32 reward[B], terminated[B]
      float32 q[B*A]        Q(s) the loss used: mean mode, online weights before
                            the step; per-sample mode, row i with the weights
                            sample i saw
      float32 loss          mean loss (per-sample mode: mean of the B losses)
      float32 grad[P]       gradient after clipping (per-sample: last sample's)
      float32 m[P], v[P]    Adam moments after the step
      float32 params[P]     weights after the step
  (end of file: no more bytes)
"""
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MAGIC = b"CLDQNTRF"
VERSION = 1


def f32(x):
    """The float32 value nearest x, as a Python float."""
    return float(np.float32(x))


class Net(nn.Module):
    def __init__(self, S, A, E, H, L):
        super().__init__()
        self.embedding = nn.Embedding(S, E)
        self.L = L
        inp = E
        for l in range(1, L + 1):
            setattr(self, "fc%d" % l, nn.Linear(inp, H))
            inp = H
        self.out = nn.Linear(inp, A)

    def forward(self, s):
        x = self.embedding(s)  # (B, E)
        for l in range(1, self.L + 1):
            x = F.relu(getattr(self, "fc%d" % l)(x))  # (B, H)
        return self.out(x)  # (B, A)


def init_params(rng, net, kind):
    """Numpy draws for every tensor in state_dict order (torch or keras style)."""
    sd = {}
    for name, p in net.state_dict().items():
        shape = tuple(p.shape)
        if name == "embedding.weight":
            a = rng.standard_normal(shape) if kind == "torch" else rng.uniform(-0.05, 0.05, shape)
        else:
            wshape = net.state_dict()[name.replace("bias", "weight")].shape
            fan_in, fan_out = wshape[1], wshape[0]
            if kind == "torch":
                bound = 1.0 / np.sqrt(fan_in)
                a = rng.uniform(-bound, bound, shape)
            elif name.endswith("weight"):
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                a = rng.uniform(-limit, limit, shape)
            else:
                a = np.zeros(shape)
        sd[name] = torch.from_numpy(a.astype(np.float32))
    net.load_state_dict(sd)


def flat(tensors):
    return torch.cat([t.detach().reshape(-1) for t in tensors]).numpy().astype("<f4")


def make_batch(rng, S, A, B):
    state = rng.integers(0, S, B).astype(np.int32)
    if B >= 6:
        state[5] = state[0]  # a repeated state: embedding gradients accumulate
        state[B - 1] = state[1]
    action = rng.integers(0, A, B).astype(np.int32)
    reward = rng.choice(np.array([-1.0, -10.0, 20.0], np.float32), B, p=[0.8, 0.1, 0.1])
    next_state = rng.integers(0, S, B).astype(np.int32)
    term = (rng.random(B) < 0.15).astype(np.float32)
    term[min(2, B - 1)] = 1.0  # at least one terminal transition
    return state, action, reward.astype(np.float32), next_state, term


def run_case(out, rng, c):
    S, A, E, H, L, B = c["S"], c["A"], c["E"], c["H"], c["L"], c["B"]
    torch.manual_seed(0)  # nothing random is drawn by torch; weights come from numpy
    net = Net(S, A, E, H, L)
    init_params(rng, net, "keras" if c["adam"] == 1 else "torch")
    tgt = Net(S, A, E, H, L)
    tgt.load_state_dict(net.state_dict())
    params = list(net.parameters())
    P = sum(p.numel() for p in params)
    gamma, lr, b1, b2, eps = (f32(c[k]) for k in ("gamma", "lr", "beta1", "beta2", "eps"))
    delta, max_norm = f32(c["delta"]), f32(c["max_norm"])

    out.write(struct.pack("<11i", S, A, E, H, L, B, c["steps"], c["mode"], c["loss"], c["adam"], P))
    out.write(struct.pack("<7f", gamma, lr, b1, b2, eps, delta, max_norm))
    out.write(flat(params).tobytes())

    opt = torch.optim.Adam(params, lr=lr, betas=(b1, b2), eps=eps) if c["adam"] == 0 else None
    km = [torch.zeros_like(p) for p in params]  # Keras Adam moments
    kv = [torch.zeros_like(p) for p in params]
    kt = 0
    stats = {"clipped": 0, "huber_in": 0, "huber_out": 0}
    for step in range(c["steps"]):
        s, a, r, s2, term = make_batch(rng, S, A, B)
        for arr in (s, a, s2):
            out.write(arr.astype("<i4").tobytes())
        for arr in (r, term):
            out.write(arr.astype("<f4").tobytes())
        ts, ta, tr, ts2, tterm = (torch.from_numpy(x) for x in (s, a, r, s2, term))
        ts, ta, ts2 = ts.long(), ta.long(), ts2.long()
        with torch.no_grad():
            y = tr + gamma * (1.0 - tterm) * tgt(ts2).max(dim=1).values  # (B)

        if c["mode"] == 0:
            q_all = net(ts)  # (B, A)
            q = q_all.gather(1, ta[:, None]).squeeze(1)  # (B)
            if c["loss"] == 0:
                loss = F.mse_loss(q, y)
            else:
                loss = F.huber_loss(q, y, delta=delta)
                d = (q - y).abs()
                stats["huber_in"] += int((d < delta).sum())
                stats["huber_out"] += int((d >= delta).sum())
            opt.zero_grad()
            loss.backward()
            if max_norm > 0:
                norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
                stats["clipped"] += int(norm > max_norm)
            opt.step()
            q_rows = q_all.detach()
            grads = [p.grad for p in params]
            ms = [opt.state[p]["exp_avg"] for p in params]
            vs = [opt.state[p]["exp_avg_sq"] for p in params]
            loss_v = float(loss)
        else:
            rows, losses = [], []
            for i in range(B):
                qi = net(ts[i : i + 1])  # (1, A), current weights
                want = qi.detach().clone()
                want[0, ta[i]] = y[i]
                li = ((want - qi) ** 2).mean()  # Keras MSE over the A outputs
                grads = torch.autograd.grad(li, params)
                if max_norm > 0:
                    gn = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
                    coef = max_norm / (gn + 1e-6)
                    if coef < 1:
                        grads = [g * coef for g in grads]
                        stats["clipped"] += 1
                kt += 1
                lr_t = lr * np.sqrt(1.0 - b2**kt) / (1.0 - b1**kt)
                with torch.no_grad():
                    for p, g, m, v in zip(params, grads, km, kv):
                        m.mul_(b1).add_(g, alpha=1.0 - b1)
                        v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
                        p.sub_(lr_t * m / (v.sqrt() + eps))
                rows.append(qi.detach())
                losses.append(float(li))
            q_rows = torch.cat(rows)
            ms, vs = km, kv
            loss_v = float(np.mean(np.array(losses, np.float32), dtype=np.float32))

        out.write(q_rows.numpy().astype("<f4").tobytes())
        out.write(struct.pack("<f", loss_v))
        for ts_ in (grads, ms, vs, params):
            out.write(flat(ts_).tobytes())
        print("  step %d: loss %.6g" % (step, loss_v))
    print("  P=%d %s" % (P, stats))


CASES = [
    # The default network: MSE on the mean, no clipping.
    dict(name="mse", S=500, A=6, E=10, H=50, L=2, B=32, steps=3, mode=0, loss=0, adam=0,
         gamma=0.99, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, delta=1.0, max_norm=0.0),
    # Huber with delta != 1 (huber_loss semantics, not smooth_l1's).
    dict(name="huber", S=100, A=6, E=10, H=32, L=2, B=32, steps=3, mode=0, loss=1, adam=0,
         gamma=0.99, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, delta=1.5, max_norm=0.0),
    # MSE with clipping on odd sizes and 3 hidden layers.
    dict(name="mse_clip", S=37, A=6, E=5, H=13, L=3, B=7, steps=3, mode=0, loss=0, adam=0,
         gamma=0.9, lr=5e-3, beta1=0.9, beta2=0.999, eps=1e-8, delta=1.0, max_norm=1.0),
    # Huber (smooth_l1, delta 1) with clipping, one hidden layer.
    dict(name="huber_clip", S=50, A=6, E=8, H=20, L=1, B=16, steps=3, mode=0, loss=1, adam=0,
         gamma=0.99, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, delta=1.0, max_norm=0.5),
    # The seed: default network, Keras init, per-sample Keras Adam (lr 0.01, eps 1e-7).
    dict(name="seed", S=500, A=6, E=10, H=50, L=2, B=32, steps=2, mode=1, loss=0, adam=1,
         gamma=0.6, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-7, delta=1.0, max_norm=0.0),
]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/data/torch_ref.bin"
    torch.set_num_threads(1)
    rng = np.random.default_rng(20240611)
    print("torch", torch.__version__)
    # The C init (net.c, CLDQN_INIT_TORCH) claims nn.Linear's default init is
    # U(+-1/sqrt(fan_in)) for weight and bias; check that on this torch.
    lin = nn.Linear(50, 40)
    for t in (lin.weight, lin.bias):
        mx = float(t.detach().abs().max())
        assert 0.9 / np.sqrt(50) < mx <= 1 / np.sqrt(50), mx
    with open(path, "wb") as out:
        out.write(MAGIC)
        out.write(struct.pack("<II", VERSION, len(CASES)))
        for c in CASES:
            print("case", c["name"])
            run_case(out, rng, c)
    print("wrote", path)


if __name__ == "__main__":
    main()
