#!/usr/bin/env python3
"""taxi_tables.py - Gymnasium writes the reference tables for tests/test_taxi.c.

Usage: python3 tools/taxi_tables.py tests/data

Uses gymnasium.envs.toy_text.taxi.TaxiEnv itself (Gymnasium 1.4.0) and writes
three little-endian binary files. Each starts with a 16-byte header:

    u32 magic    0x58545143 ("CQTX" in file order)
    u32 version  1
    u32 kind     1 = model, 2 = render, 3 = fickle
    u32 count    number of records that follow (meaning per kind)

taxi_model.bin (kind 1, count 2 = number of variants), then for each variant
(0 = TaxiEnv(), 1 = TaxiEnv(is_rainy=True)):
    for s in 0..499, a in 0..5 (env.P[s][a] in order):
        u8 n, then n records of {f64 prob, i16 next_state, i8 reward, u8 terminated}
    f64 V_gamma1[500]    value iteration over env.P, gamma 1
    f64 V_gamma09[500]   same, gamma 0.9
    f64 mean_start_gamma1  mean of V_gamma1 weighted by initial_state_distrib
after both variants:
    i8  action_mask[500][6]       env.action_mask(s)
    f64 initial_state_distrib[500]

taxi_render.bin (kind 2, count = number of renders), each record:
    i32 state, i32 last_action (-1 = None),
    u32 len, bytes  text of _render_text() with colours
    u32 len, bytes  the same with utils.colorize made a no-op (colour off)

taxi_fickle.bin (kind 3, count = number of steps), fickle_probability=1.0 so
the reset coin always says "fickle"; random actions from several resets. Each
record: i32 episode, i32 state_before, i32 action, i32 state_after,
i32 dest_changed (1 if the destination of state_after differs from that of
the deterministic model's outcome, i.e. Gymnasium's fickle rule fired).
The C test replays each step from Gymnasium's state_before and checks that its
own rule fires on exactly the same steps (the new destination itself is drawn
from different generators, so only "changed / to another one" is compared).

Value iteration: Jacobi sweeps V <- max_a sum_o p (r + gamma (1-term) V(s'))
from V = 0 until the largest change is below 1e-13.
"""
import os
import struct
import sys

import numpy as np

import gymnasium
from gymnasium.envs.toy_text import taxi as taxi_mod
from gymnasium.envs.toy_text.taxi import TaxiEnv

MAGIC = 0x58545143
VERSION = 1


def header(kind, count):
    return struct.pack("<IIII", MAGIC, VERSION, kind, count)


def value_iteration(env, gamma, tol=1e-13):
    # Dense arrays of the model: (500, 6, 3) with zero-probability padding.
    P = np.zeros((500, 6, 3))
    N = np.zeros((500, 6, 3), dtype=np.int64)
    R = np.zeros((500, 6, 3))
    T = np.zeros((500, 6, 3))
    for s in range(500):
        for a in range(6):
            for k, (p, ns, r, t) in enumerate(env.P[s][a]):
                P[s, a, k], N[s, a, k], R[s, a, k], T[s, a, k] = p, ns, r, t
    V = np.zeros(500)
    for it in range(1000000):
        Q = (P * (R + gamma * (1.0 - T) * V[N])).sum(axis=2)
        Vn = Q.max(axis=1)
        delta = np.abs(Vn - V).max()
        V = Vn
        if delta < tol:
            break
    return V, it + 1


def write_model(outdir):
    envs = [TaxiEnv(), TaxiEnv(is_rainy=True)]
    buf = bytearray(header(1, len(envs)))
    for name, env in zip(["dry", "rainy"], envs):
        for s in range(500):
            for a in range(6):
                outs = env.P[s][a]
                buf += struct.pack("<B", len(outs))
                for p, ns, r, t in outs:
                    buf += struct.pack("<dhbB", p, ns, r, int(t))
        v1, it1 = value_iteration(env, 1.0)
        v9, it9 = value_iteration(env, 0.9)
        mean1 = float((v1 * env.initial_state_distrib).sum())
        buf += v1.astype("<f8").tobytes()
        buf += v9.astype("<f8").tobytes()
        buf += struct.pack("<d", mean1)
        print(f"{name}: VI gamma 1 {it1} sweeps, gamma 0.9 {it9} sweeps, "
              f"mean optimal return over starts {mean1:.6f}")
    env = envs[0]
    for s in range(500):
        buf += env.action_mask(s).astype("<i1").tobytes()
    buf += env.initial_state_distrib.astype("<f8").tobytes()
    path = os.path.join(outdir, "taxi_model.bin")
    with open(path, "wb") as f:
        f.write(buf)
    print(f"wrote {path} ({len(buf)} bytes)")


def write_render(outdir):
    env = TaxiEnv(render_mode="ansi")
    env.reset(seed=0)
    records = []
    colorize = taxi_mod.utils.colorize
    for s in range(500):
        last = (s % 7) - 1  # cycles through None and all six actions
        env.s = s
        env.lastaction = None if last < 0 else last
        colored = env.render()
        taxi_mod.utils.colorize = lambda string, *args, **kw: string
        try:
            plain = env.render()
        finally:
            taxi_mod.utils.colorize = colorize
        records.append((s, last, colored.encode(), plain.encode()))
    buf = bytearray(header(2, len(records)))
    for s, last, colored, plain in records:
        buf += struct.pack("<iiI", s, last, len(colored)) + colored
        buf += struct.pack("<I", len(plain)) + plain
    path = os.path.join(outdir, "taxi_render.bin")
    with open(path, "wb") as f:
        f.write(buf)
    print(f"wrote {path} ({len(buf)} bytes, {len(records)} renders)")


def write_fickle(outdir):
    env = TaxiEnv(fickle_passenger=True, fickle_probability=1.0)
    rng = np.random.default_rng(12345)
    steps = []
    fired = 0
    for ep in range(40):
        s, _ = env.reset(seed=1000 + ep)
        for _ in range(80):
            # Bias towards useful actions so the passenger is picked up often.
            mask = env.action_mask(s)
            if mask[4] or mask[5]:
                a = 4 if mask[4] else 5
                if rng.random() < 0.3:
                    a = int(rng.integers(0, 4))
            else:
                a = int(rng.integers(0, 6))
            (p, model_next, r, t) = env.P[s][a][0]
            ns, r2, term, trunc, info = env.step(a)
            changed = int(ns % 4 != model_next % 4)
            fired += changed
            steps.append((ep, s, a, ns, changed))
            s = ns
            if term:
                break
    buf = bytearray(header(3, len(steps)))
    for rec in steps:
        buf += struct.pack("<iiiii", *rec)
    path = os.path.join(outdir, "taxi_fickle.bin")
    with open(path, "wb") as f:
        f.write(buf)
    print(f"wrote {path} ({len(buf)} bytes, {len(steps)} steps, rule fired {fired} times)")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: taxi_tables.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    print(f"gymnasium {gymnasium.__version__}")
    write_model(outdir)
    write_render(outdir)
    write_fickle(outdir)


if __name__ == "__main__":
    main()
