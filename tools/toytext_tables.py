#!/usr/bin/env python3
"""toytext_tables.py - Gymnasium writes the reference tables for tests/test_toytext.c.

Usage: python3 tools/toytext_tables.py tests/data

Builds every environment with gymnasium.make (Gymnasium 1.4.0: its IDs,
keyword arguments and registered time limits) and writes two little-endian
binary files. Each starts with a 16-byte header:

    u32 magic    0x54545143 ("CQTT" in file order)
    u32 version  1
    u32 kind     1 = model, 2 = render
    u32 count    number of records that follow

toytext_model.bin (kind 1), count = number of variants, each:
    u32 len, bytes   the cldqn spec that makes the same environment
    i32 n_states, i32 n_actions, i32 time_limit (0 = none)
    f64 start[n_states]                    initial state distribution
    u32 n_listed, then n_listed records:
        i32 state, then for a in 0..n_actions-1:
            u8 n, then n x {f64 prob, i32 next_state, f64 reward, u8 terminated}
    f64 V1[n_states], i32 sweeps1          value iteration, gamma 1
    f64 V09[n_states], i32 sweeps09        value iteration, gamma 0.9
    i32 H, f64 VH[n_states]                optimal values within H steps
                                           (H = time limit, else 100)
    i32 policy[n_states]                   greedy on V09 (first best action)
    f64 policy_return, f64 policy_ended    that policy over H steps from
                                           the start: mean return and the
                                           probability the episode ended
The grids list every state, as env.P. Blackjack has no env.P: the listed
states are the live ones (reachable from a deal, not bust) and their
outcomes are exact under gymnasium's deck (blackjack.deck), computed with
Fractions by running gymnasium's own step() on representative hands, with
draw_card replaced by each card in turn for a hit, and the dealer's final
hand set for a stick. The state index is cldqn's (include/cldqn/env.h):
(sum * 11 + dealer) * 2 + usable_ace, or 704 + dealer - 1 for a dealt
natural. Hit outcomes are listed by card 1..10, stick outcomes by reward,
increasing. Unlisted states are absorbing in cldqn (not written here).
The model is then cross-checked by sampling gymnasium's env (resets and
steps from every live state): every count within 5 binomial standard
deviations of the exact probability, or the script fails.

Value iteration: Jacobi sweeps V <- max_a sum_k p_k (r_k + gamma (1-t_k) V(s'_k)),
the sum over k in the listed order (not numpy's pairwise sum), from V = 0
until the largest change is below 1e-13: the same arithmetic as
host/core/env_vi.c.

toytext_render.bin (kind 2), count = number of renders, each:
    u32 len, bytes spec; i32 state, i32 last_action (-1 = None);
    u32 len, bytes render() in "ansi" mode (FrozenLake colours included)
"""
import os
import struct
import sys
from fractions import Fraction

import numpy as np

import gymnasium
from gymnasium.envs.toy_text import blackjack as bj

MAGIC = 0x54545143
VERSION = 1

CUSTOM_DESC = ["SFFHF", "FHFFS", "FFFHG"]

# (cldqn spec, gymnasium id, kwargs)
GRIDS = [
    ("FrozenLake-v1", "FrozenLake-v1", {}),
    ("FrozenLake-v1:is_slippery=false", "FrozenLake-v1", {"is_slippery": False}),
    ("FrozenLake8x8-v1", "FrozenLake8x8-v1", {}),
    ("FrozenLake8x8-v1:is_slippery=false", "FrozenLake8x8-v1", {"is_slippery": False}),
    ("FrozenLake-v1:map_name=8x8", "FrozenLake-v1", {"map_name": "8x8"}),
    ("FrozenLake-v1:desc=" + "/".join(CUSTOM_DESC) + ",success_rate=0.6,reward_schedule=2/-1/0",
     "FrozenLake-v1", {"desc": CUSTOM_DESC, "success_rate": 0.6, "reward_schedule": (2, -1, 0)}),
    ("FrozenLake-v1:success_rate=1,max_episode_steps=7", "FrozenLake-v1",
     {"success_rate": 1.0, "max_episode_steps": 7}),
    ("CliffWalking-v1", "CliffWalking-v1", {}),
    ("CliffWalkingSlippery-v1", "CliffWalkingSlippery-v1", {}),
]
BLACKJACKS = [
    ("Blackjack-v1", {}),
    ("Blackjack-v1:sab=false", {"sab": False}),
    ("Blackjack-v1:natural=true,sab=false", {"natural": True, "sab": False}),
    ("Blackjack-v1:natural=true", {"natural": True}),
]


def header(kind, count):
    return struct.pack("<IIII", MAGIC, VERSION, kind, count)


def lenbytes(s):
    b = s.encode()
    return struct.pack("<I", len(b)) + b


# ---- planning, the same arithmetic as env_vi.c --------------------------

def dense(nS, nA, P):
    K = max(len(P[s][a]) for s in range(nS) for a in range(nA))
    prob = np.zeros((nS, nA, K))
    nxt = np.zeros((nS, nA, K), dtype=np.int64)
    rew = np.zeros((nS, nA, K))
    term = np.zeros((nS, nA, K), dtype=bool)
    count = np.zeros((nS, nA), dtype=np.int64)
    for s in range(nS):
        for a in range(nA):
            count[s, a] = len(P[s][a])
            for k, (p, ns, r, t) in enumerate(P[s][a]):
                prob[s, a, k], nxt[s, a, k], rew[s, a, k], term[s, a, k] = p, ns, r, t
    return prob, nxt, rew, term, count


def q_values(m, gamma, V):
    prob, nxt, rew, term, count = m
    Q = np.zeros(prob.shape[:2])
    for k in range(prob.shape[2]):
        future = np.where(term[:, :, k], 0.0, gamma * V[nxt[:, :, k]])
        add = prob[:, :, k] * (rew[:, :, k] + future)
        # Padding beyond an entry's outcome count is not summed (C stops there).
        Q = np.where(k < count, Q + add, Q)
    return Q


def value_iteration(m, gamma, tol=1e-13):
    V = np.zeros(m[0].shape[0])
    for sweep in range(1, 1000001):
        Vn = q_values(m, gamma, V).max(axis=1)
        delta = np.abs(Vn - V).max()
        V = Vn
        if delta < tol:
            return V, sweep
    raise RuntimeError("value iteration did not converge")


def finite_horizon(m, H):
    V = np.zeros(m[0].shape[0])
    for _ in range(H):
        V = q_values(m, 1.0, V).max(axis=1)
    return V


def evaluate(m, policy, H, start):
    prob, nxt, rew, term, count = m
    idx = np.arange(len(policy))
    V = np.zeros(len(policy))
    T = np.zeros(len(policy))
    for _ in range(H):
        V = q_values(m, 1.0, V)[idx, policy]
        Tn = np.zeros(len(policy))
        for s in idx:
            a = policy[s]
            for k in range(count[s, a]):
                Tn[s] += prob[s, a, k] * (1.0 if term[s, a, k] else T[nxt[s, a, k]])
        T = Tn
    return float((start * V)[start > 0].sum()), float((start * T)[start > 0].sum())


def variant_record(spec, nS, nA, limit, start, listed, P):
    """listed: states whose outcomes are written; P: the full model."""
    buf = bytearray(lenbytes(spec))
    buf += struct.pack("<iii", nS, nA, limit)
    buf += np.asarray(start, dtype="<f8").tobytes()
    buf += struct.pack("<I", len(listed))
    for s in listed:
        buf += struct.pack("<i", s)
        for a in range(nA):
            buf += struct.pack("<B", len(P[s][a]))
            for p, ns, r, t in P[s][a]:
                buf += struct.pack("<didB", float(p), int(ns), float(r), int(bool(t)))
    m = dense(nS, nA, P)
    v1, sw1 = value_iteration(m, 1.0)
    v9, sw9 = value_iteration(m, 0.9)
    H = limit if limit else 100
    vh = finite_horizon(m, H)
    # Greedy on gamma 0.9: at gamma 1 every action that still reaches the goal
    # ties (FrozenLake), and the first of them may walk into a wall forever.
    policy = q_values(m, 0.9, v9).argmax(axis=1)
    ret, ended = evaluate(m, policy, H, np.asarray(start))
    buf += v1.astype("<f8").tobytes() + struct.pack("<i", sw1)
    buf += v9.astype("<f8").tobytes() + struct.pack("<i", sw9)
    buf += struct.pack("<i", H) + vh.astype("<f8").tobytes()
    buf += policy.astype("<i4").tobytes()
    buf += struct.pack("<dd", ret, ended)
    opt_inf = float((np.asarray(start) * v1).sum())
    opt_h = float((np.asarray(start) * vh).sum())
    print(f"{spec}: {nS} states, limit {limit}; optimum {opt_inf:.6f} (gamma 1, {sw1} sweeps), "
          f"{opt_h:.6f} within {H} steps; gamma-0.9 greedy policy {ret:.6f} within {H} "
          f"(ended {ended:.4f})")
    return buf


# ---- the grids -----------------------------------------------------------

def grid_variants(renders):
    out = []
    for spec, gid, kw in GRIDS:
        env = gymnasium.make(gid, render_mode="ansi", **kw)
        u = env.unwrapped
        nS, nA = u.observation_space.n, u.action_space.n
        limit = env.spec.max_episode_steps or 0
        out.append(variant_record(spec, nS, nA, limit, u.initial_state_distrib,
                                  list(range(nS)), u.P))
        env.reset(seed=0)
        for s in range(0, nS, 3):
            last = (s % 5) - 1
            u.s = s
            u.lastaction = None if last < 0 else last
            renders.append((spec, s, last, env.render()))
    return out


# ---- Blackjack -----------------------------------------------------------

CARDS = sorted(set(bj.deck))
CARD_P = {c: Fraction(bj.deck.count(c), len(bj.deck)) for c in CARDS}


def bj_state(hand, dealer_card):
    if len(hand) == 2 and bj.is_natural(hand):
        return 704 + dealer_card - 1
    total, ace = bj._hand_sum_and_usable_ace(hand)
    return (total * 11 + dealer_card) * 2 + ace


def dealer_finals(hand, memo):
    """{(score, natural): (prob, a final hand)} of the dealer's play from hand."""
    key = (sum(hand), 1 in hand, len(hand))
    if key in memo:
        return memo[key]
    res = {}
    if len(hand) >= 2 and bj.sum_hand(hand) >= 17:
        res[(bj.score(hand), bj.is_natural(hand))] = (Fraction(1), list(hand))
    else:
        for c in CARDS:
            for k, (p, h) in dealer_finals(hand + [c], memo).items():
                q, h0 = res.get(k, (Fraction(0), h))
                res[k] = (q + CARD_P[c] * p, h0)
    memo[key] = res
    return res


def blackjack_variant(spec, kw, check_rng):
    env = gymnasium.make("Blackjack-v1", **kw)
    u = env.unwrapped
    env.reset(seed=0)
    nS, nA = 714, 2
    start = [Fraction(0)] * nS
    rep = {}  # state -> a representative player hand and the dealer card
    for d in CARDS:
        for p1 in CARDS:
            for p2 in CARDS:
                s = bj_state([p1, p2], d)
                start[s] += CARD_P[d] * CARD_P[p1] * CARD_P[p2]
                rep.setdefault(s, ([p1, p2], d))
    memo = {}
    P = {}
    frontier = list(rep)
    draw = bj.draw_card
    try:
        while frontier:
            s = frontier.pop()
            hand, d = rep[s]
            P[s] = {}
            # Hit: gymnasium's step with each card in turn.
            outs = []
            for c in CARDS:
                u.player, u.dealer = list(hand), [d, 10]
                bj.draw_card = lambda rng, c=c: c
                obs, r, term, trunc, _ = env.step(1)
                ns = bj_state(u.player, d)
                assert obs == (ns // 22, d, ns % 2) and not trunc
                outs.append((CARD_P[c], ns, r, term))
                if not term and ns not in rep:
                    rep[ns] = (list(u.player), d)
                    frontier.append(ns)
            P[s][1] = outs
            bj.draw_card = draw
            # Stick: the dealer's final hand set, gymnasium's step scores it.
            by_reward = {}
            for h in CARDS:
                for (score, nat), (p, final) in dealer_finals([d, h], memo).items():
                    u.player, u.dealer = list(hand), list(final)
                    obs, r, term, trunc, _ = env.step(0)
                    assert term and not trunc and u.dealer == final
                    by_reward[r] = by_reward.get(r, Fraction(0)) + CARD_P[h] * p
            P[s][0] = [(by_reward[r], s, r, True) for r in sorted(by_reward)]
    finally:
        bj.draw_card = draw
    live = sorted(P)
    for a in range(nA):
        for s in live:
            assert sum(o[0] for o in P[s][a]) == 1
    sample_check(spec, env, rep, P, start, check_rng)
    full = {s: P.get(s, {a: [(1.0, s, 0.0, True)] for a in range(nA)}) for s in range(nS)}
    Pf = {s: {a: [(float(p), ns, float(r), t) for p, ns, r, t in full[s][a]] for a in range(nA)}
          for s in range(nS)}
    return variant_record(spec, nS, nA, 0, [float(p) for p in start], live, Pf)


def within(count, n, p):
    p = float(p)
    return abs(count - n * p) <= 5.0 * np.sqrt(n * p * (1.0 - p)) + 1.0


def sample_check(spec, env, rep, P, start, rng):
    """Gymnasium's env, sampled, against the exact model (5 sigma per outcome)."""
    u = env.unwrapped
    n = 100000
    env.reset(seed=int(rng.integers(1 << 31)))
    counts = {}
    for _ in range(n):
        env.reset()
        s = bj_state(u.player, u.dealer[0])
        counts[s] = counts.get(s, 0) + 1
    bad = [s for s, p in enumerate(start) if not within(counts.get(s, 0), n, p)]
    assert not bad, f"{spec}: start distribution differs at {bad}"
    m = 400
    checked = 0
    for s in sorted(P):
        hand, d = rep[s]
        for a in (0, 1):
            got = {}
            for _ in range(m):
                u.player = list(hand)
                u.dealer = [d, bj.draw_card(u.np_random)]
                obs, r, term, trunc, _ = env.step(a)
                key = (bj_state(u.player, d) if a else s, float(r), bool(term))
                got[key] = got.get(key, 0) + 1
            exact = {(ns, float(r), bool(t)): p for p, ns, r, t in P[s][a]}
            assert set(got) <= set(exact), f"{spec}: state {s} action {a}: unknown outcome"
            for key, p in exact.items():
                assert within(got.get(key, 0), m, p), f"{spec}: state {s} action {a} {key}"
                checked += 1
    print(f"{spec}: {n} resets and {m} steps per live state and action sampled in gymnasium, "
          f"{checked} outcome frequencies within 5 sigma")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: toytext_tables.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    print(f"gymnasium {gymnasium.__version__}")
    renders = []
    variants = grid_variants(renders)
    rng = np.random.default_rng(2024)
    for spec, kw in BLACKJACKS:
        variants.append(blackjack_variant(spec, kw, rng))
    buf = bytearray(header(1, len(variants)))
    for v in variants:
        buf += v
    path = os.path.join(outdir, "toytext_model.bin")
    with open(path, "wb") as f:
        f.write(buf)
    print(f"wrote {path} ({len(buf)} bytes, {len(variants)} variants)")
    buf = bytearray(header(2, len(renders)))
    for spec, s, last, text in renders:
        buf += lenbytes(spec) + struct.pack("<ii", s, last) + lenbytes(text)
    path = os.path.join(outdir, "toytext_render.bin")
    with open(path, "wb") as f:
        f.write(buf)
    print(f"wrote {path} ({len(buf)} bytes, {len(renders)} renders)")


if __name__ == "__main__":
    main()
