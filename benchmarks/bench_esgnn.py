"""Echo-state graph network on MUTAG (issue: reservoirs): the full evaluation — every chip's
embeddings of the 188 graphs, digital and analogue (4-bit bit-serial reads, noise per bit
cycle), and the ridge read-outs of the 10 published splits — for 100 chips, against a
vectorised NumPy version of the published code's method (float64; per bit cycle a fresh
2 % perturbation of every weight for every node, as the published code draws it), timed on
a few chips and scaled to the same number. Compilation excluded (printed separately).

    python benchmarks/bench_esgnn.py [--chips 100] [--quick]
"""

import argparse
import time

import jax
import numpy as np
from _common import add_scale_option, report

from analogjax import models


def numpy_published(graphs, folds_train, folds_test, rng, *, hidden=50, noise=0.02,
                    n_bit=4, leak=0.2, iterations=4, lam=1e-3):
    """One chip of the published recipe in NumPy: N(14.2473, 2.4624²) µS cells, weights
    scaled 0.0016 / 0.01 per µS, per-node min/max 4-bit inputs, a fresh weight perturbation
    per node and bit cycle; test accuracy of each split."""
    features = np.asarray(graphs.features, np.float64)
    adjacency = np.asarray(graphs.adjacency, np.float64)
    mask = np.asarray(graphs.mask)
    n_graphs, n_nodes, n_in = features.shape
    w_in = rng.normal(14.2473, 2.4624, (hidden, n_in + 1)) * 0.0016
    w_h = rng.normal(14.2473, 2.4624, (hidden, hidden)) * 0.01
    levels = 2**n_bit - 1

    def multiply(w, x):  # x: (vectors, in) → (vectors, hidden)
        lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
        span = np.where(hi > lo, hi - lo, 1.0)
        q = np.round((x - lo) / span * levels).astype(np.int64)
        out = np.zeros((x.shape[0], w.shape[0]))
        for b in range(n_bit):
            noisy = w * (1 + noise * rng.standard_normal((x.shape[0], *w.shape)))
            out += np.einsum("voi,vi->vo", noisy, ((q >> b) & 1).astype(np.float64)) * 2**b
        return out * np.where(hi > lo, span / levels, 0.0) + lo * w.sum(axis=1)

    u = np.concatenate([features, np.ones((n_graphs, n_nodes, 1))], axis=-1)[mask]
    graph_of = np.repeat(np.arange(n_graphs), mask.sum(axis=1))
    drive = multiply(w_in, u)
    h = np.zeros((u.shape[0], hidden))
    index = np.flatnonzero(mask.ravel())
    for _ in range(iterations):
        rec = np.zeros((n_graphs * n_nodes, hidden))
        rec[index] = multiply(w_h, h)
        mixed = np.einsum("gkh,gkj->gjh", rec.reshape(n_graphs, n_nodes, hidden), adjacency)
        h = (1 - leak) * h + leak * np.tanh(drive + mixed.reshape(-1, hidden)[index])
    embedding = np.zeros((n_graphs, hidden))
    np.add.at(embedding, graph_of, h)
    e = np.concatenate([np.maximum(embedding, 0), np.ones((n_graphs, 1))], axis=1)
    target = 2.0 * np.asarray(graphs.labels) - 1
    accuracies = []
    for tr, te in zip(folds_train, folds_test, strict=True):
        tr, te = tr[tr >= 0], te[te >= 0]
        w = np.linalg.solve(e[tr].T @ e[tr] + lam * np.eye(hidden + 1), e[tr].T @ target[tr])
        accuracies.append(np.mean(np.sign(e[te] @ w) == target[te]))
    return np.array(accuracies)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=100)
    parser.add_argument("--baseline-chips", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 chips, 1 baseline chip")
    add_scale_option(parser)  # the chips
    args = parser.parse_args()
    if args.quick:
        args.chips, args.baseline_chips = 10, 1
    args.chips *= args.scale
    graphs, train, test = models.load_mutag()
    network = models.EchoStateGraphNetwork()
    keys = jax.random.split(jax.random.key(0), args.chips)

    start = time.perf_counter()
    jax.block_until_ready(models.graph_accuracies(network, graphs, train, test, keys))
    first = time.perf_counter() - start  # compile + run
    start = time.perf_counter()
    acc = jax.block_until_ready(models.graph_accuracies(network, graphs, train, test, keys))
    ours = time.perf_counter() - start
    compile_s = first - ours
    print(f"analogjax: {args.chips} chips x 10 splits (digital and analogue) in {ours:.2f} s "
          f"({args.chips / ours:.1f} chips/s; compile {compile_s:.1f} s)")
    for name in ("digital", "analogue"):
        a = np.asarray(acc[name])
        print(f"  {name:9s} accuracy {a.mean():.4f}  s.d. over splits {a.mean(0).std():.4f}  "
              f"over chips {a.mean(1).std():.4f}")

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    base_acc = [numpy_published(graphs, train, test, rng) for _ in range(args.baseline_chips)]
    per_chip = (time.perf_counter() - start) / args.baseline_chips
    baseline = per_chip * args.chips
    print(f"NumPy, published method: {per_chip:.2f} s per chip (analogue only), "
          f"{args.chips} chips ≈ {baseline:.1f} s; accuracy {np.mean(base_acc):.4f} "
          f"over {args.baseline_chips} chips (published code's cell statistics)")
    report(f"ESGNN MUTAG, {args.chips} chips x 10 splits (goal < 30 s on 2 CPU cores)", ours,
           baseline, "< 30 s", compile_s=compile_s)
    print(f"speed-up over the NumPy published method: {baseline / ours:.1f}x")


if __name__ == "__main__":
    main()
