"""Graph data for echo-state graph networks: MUTAG (shipped inside the package) as padded
batches."""

from __future__ import annotations

import importlib.resources

import equinox as eqx
import jax
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


def stochastic_block_model(key, *, sizes: tuple[int, ...] = (50, 50, 50, 50),
                           p_in: float = 0.2, p_out: float = 0.02, signal: float = 1.0
                           ) -> tuple[GraphBatch, Int[Array, " N"]]:
    """A stochastic block model for node classification (Holland et al., Soc. Networks 5,
    109 (1983)): nodes in communities of ``sizes``, each pair linked with probability
    ``p_in`` inside a community and ``p_out`` across; node features are noisy community
    indicators ``signal · onehot(c) + N(0, 1)`` (one per community), so a node's own
    features are weak evidence and its neighbours' add to it. Returns one graph (a batch of
    one, graph label 0) and the node labels (community)."""
    from analogjax.internal import check_range

    check_range("p_in", p_in, lower=0.0, upper=1.0)
    check_range("p_out", p_out, lower=0.0, upper=1.0)
    check_range("signal", signal, lower=0.0, upper=100.0)
    if not sizes or any(int(s) < 1 for s in sizes):
        raise ValueError(f"sizes must be one or more positive community sizes; got {sizes}")
    k_edges, k_features = jax.random.split(key)
    labels = jnp.repeat(jnp.arange(len(sizes)), jnp.asarray(sizes),
                        total_repeat_length=int(sum(sizes)))
    n = labels.shape[0]
    p = jnp.where(labels[:, None] == labels[None, :], p_in, p_out)
    upper = jnp.triu(jax.random.uniform(k_edges, (n, n)) < p, k=1)
    adjacency = (upper | upper.T).astype(jnp.float32)
    features = (signal * jax.nn.one_hot(labels, len(sizes))
                + jax.random.normal(k_features, (n, len(sizes))))
    graph = GraphBatch(adjacency[None], features[None], jnp.ones((1, n), bool),
                       jnp.zeros((1,), jnp.int32))
    return graph, labels
