"""The compute benchmark's workload in the peers, for scripts/bench-peers.

MLP 784-512-256-10, ReLU, softmax cross-entropy, Adam (lr 1e-3), batch 256, float32, 60,000 synthetic
rows: the same model, batch and optimiser as Benchmarks/ComputeBench. Prints one JSON line per
framework: {"peer", "threads", "ms_per_step", "samples_per_s", "steps"}. Thread counts are pinned by
the caller (taskset + the variables below) and inside each framework where it has a knob.

Usage: python mlp_step.py FRAMEWORK THREADS STEPS     (FRAMEWORK: torch | jax | numpy)
"""

import json
import os
import sys
import time

framework, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ROWS, BATCH, WIDTHS = 60_000, 256, [784, 512, 256, 10]


def median(xs):
    return sorted(xs)[len(xs) // 2]


def report(times):
    ms = median(times) * 1000
    print(json.dumps({"peer": framework, "threads": threads, "ms_per_step": round(ms, 3),
                      "samples_per_s": round(BATCH / (ms / 1000)), "steps": len(times)}))


def time_steps(step):
    """10 warm-up steps, then `steps` timed ones; prints the report."""
    for _ in range(10):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    report(times)


def batches(x, y):
    b = 0
    while True:
        start = (b * BATCH) % (ROWS - BATCH)
        yield x[start:start + BATCH], y[start:start + BATCH]
        b += 1


def run_torch():
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x = torch.randn(ROWS, WIDTHS[0])
    y = torch.randint(0, 10, (ROWS,))
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)  # foreach implementation: PyTorch's fastest on CPU
    loss_fn = torch.nn.CrossEntropyLoss()
    data = batches(x, y)

    def step():
        xb, yb = next(data)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()

    time_steps(step)


def run_jax():
    import jax
    import jax.numpy as jnp
    key = jax.random.PRNGKey(1)
    kx, ky, *kw = jax.random.split(key, 5)
    x = jax.random.normal(kx, (ROWS, WIDTHS[0]), jnp.float32)
    y = jax.random.randint(ky, (ROWS,), 0, 10)
    params = []
    for i, k in enumerate(kw[:3]):
        fan_in, fan_out = WIDTHS[i], WIDTHS[i + 1]
        params.append((jax.random.normal(k, (fan_in, fan_out), jnp.float32) * (2 / fan_in) ** 0.5,
                       jnp.zeros((fan_out,), jnp.float32)))
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (params, zeros, zeros, 0)

    def loss_fn(params, xb, yb):
        h = xb
        for w, b in params[:-1]:
            h = jax.nn.relu(h @ w + b)
        w, b = params[-1]
        logits = h @ w + b
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], axis=1))

    @jax.jit
    def step(state, xb, yb):
        params, m, v, t = state
        grads = jax.grad(loss_fn)(params, xb, yb)
        t = t + 1
        b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), params, m, v)
        return params, m, v, t

    data = batches(x, y)
    for _ in range(10):
        xb, yb = next(data)
        state = step(state, xb, yb)
    jax.block_until_ready(state)
    times = []
    for _ in range(steps):
        xb, yb = next(data)
        t0 = time.perf_counter()
        state = step(state, xb, yb)
        jax.block_until_ready(state)
        times.append(time.perf_counter() - t0)
    report(times)


def run_numpy():
    import numpy as np
    rng = np.random.default_rng(1)
    x = rng.standard_normal((ROWS, WIDTHS[0]), dtype=np.float32)
    y = rng.integers(0, 10, ROWS)
    params = [[rng.standard_normal((WIDTHS[i], WIDTHS[i + 1]), dtype=np.float32) * np.float32((2 / WIDTHS[i]) ** 0.5),
               np.zeros(WIDTHS[i + 1], np.float32)] for i in range(3)]
    m = [[np.zeros_like(w), np.zeros_like(b)] for w, b in params]
    v = [[np.zeros_like(w), np.zeros_like(b)] for w, b in params]
    t = 0
    data = batches(x, y)

    def step():
        nonlocal t
        xb, yb = next(data)
        hs = [xb]
        for i, (w, b) in enumerate(params):
            z = hs[-1] @ w + b
            hs.append(np.maximum(z, 0) if i < 2 else z)
        z = hs[-1] - hs[-1].max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(yb)), yb] -= 1
        g = p / len(yb)
        t += 1
        for i in reversed(range(3)):
            w, b = params[i]
            gw, gb = hs[i].T @ g, g.sum(axis=0)
            if i > 0:
                g = (g @ w.T) * (hs[i] > 0)
            for j, grad in enumerate((gw, gb)):
                m[i][j] = 0.9 * m[i][j] + 0.1 * grad
                v[i][j] = 0.999 * v[i][j] + 0.001 * grad * grad
                params[i][j] -= 1e-3 * (m[i][j] / (1 - 0.9 ** t)) / (np.sqrt(v[i][j] / (1 - 0.999 ** t)) + 1e-8)

    time_steps(step)


{"torch": run_torch, "jax": run_jax, "numpy": run_numpy}[framework]()
