"""Graph data for echo-state graph networks: MUTAG (shipped inside the package) as padded
batches."""

from __future__ import annotations

import importlib.resources

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int


class GraphBatch(eqx.Module):
    """Graphs padded to one node count ``N`` (a batch that ``vmap`` and ``jit`` take as is):
    padding nodes have no edges, zero features and ``mask`` False."""

    adjacency: Float[Array, "G N N"]
    """Symmetric 0/1 adjacency (undirected, no self loops)."""
    features: Float[Array, "G N F"]
    """Node features (MUTAG: one-hot atom type)."""
    mask: Bool[Array, "G N"]
    """True for real nodes."""
    labels: Int[Array, " G"]
    """Graph class."""

    @property
    def nodes(self) -> Int[Array, " G"]:
        """Real nodes per graph."""
        return jnp.sum(self.mask, axis=1)


def load_mutag() -> tuple[GraphBatch, np.ndarray, np.ndarray]:
    """MUTAG (Debnath et al., J. Med. Chem. 34, 786 (1991)): 188 nitroaromatic compounds,
    label 1 = mutagenic (125) or 0 (63); nodes are atoms of 7 types (one-hot features), edges
    bonds; 10–28 nodes per graph, padded to 28. Shipped inside the package, converted from
    the published echo-state graph network code (MIT licence) with its 10 train/test splits.
    Returns the graphs and the splits' graph indices, train ``(10, 169)`` and test
    ``(10, 19)`` (repeated hold-out splits: test sets overlap)."""
    path = importlib.resources.files("analogjax") / "data" / "mutag.npz"
    with importlib.resources.as_file(path) as file, np.load(file) as data:
        d = {k: data[k] for k in data.files}
    n_graphs = d["graph_label"].shape[0]
    sizes = np.diff(d["node_ptr"])
    n_max, n_types = int(sizes.max()), int(d["node_label"].max()) + 1
    adjacency = np.zeros((n_graphs, n_max, n_max), np.float32)
    features = np.zeros((n_graphs, n_max, n_types), np.float32)
    mask = np.zeros((n_graphs, n_max), bool)
    for g in range(n_graphs):
        nodes = d["node_label"][d["node_ptr"][g]:d["node_ptr"][g + 1]]
        features[g, np.arange(nodes.size), nodes] = 1.0
        mask[g, : nodes.size] = True
        edges = slice(d["edge_ptr"][g], d["edge_ptr"][g + 1])
        src, dst = d["edge_src"][edges], d["edge_dst"][edges]
        adjacency[g, src, dst] = adjacency[g, dst, src] = 1.0
    graphs = GraphBatch(jnp.asarray(adjacency), jnp.asarray(features), jnp.asarray(mask),
                        jnp.asarray(d["graph_label"], jnp.int32))
    return graphs, d["fold_train"].astype(np.int32), d["fold_test"].astype(np.int32)
