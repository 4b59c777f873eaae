"""Graph data shipped with the package (MUTAG) against the facts of the published data."""

import numpy as np

from analogjax import models


def test_mutag_is_the_published_data_set():
    graphs, train, test = models.load_mutag()
    adjacency, mask = np.asarray(graphs.adjacency), np.asarray(graphs.mask)
    assert adjacency.shape == (188, 28, 28) and graphs.features.shape == (188, 28, 7)
    assert int(graphs.labels.sum()) == 125  # mutagenic; 63 not
    nodes = np.asarray(graphs.nodes)
    assert nodes.min() == 10 and nodes.max() == 28 and nodes.sum() == 3371
    np.testing.assert_array_equal(adjacency, adjacency.transpose(0, 2, 1))  # undirected
    assert adjacency.sum() == 2 * 3721 and np.trace(adjacency, axis1=1, axis2=2).max() == 0
    # padding nodes have no edges and no features; every real node has exactly one type
    assert adjacency[~mask].sum() == 0 and adjacency.transpose(0, 2, 1)[~mask].sum() == 0
    np.testing.assert_array_equal(np.asarray(graphs.features).sum(-1), mask)
    assert train.shape == (10, 169) and test.shape == (10, 19)
    for tr, te in zip(train, test, strict=True):  # each split: disjoint, all 188 graphs
        assert len(set(tr) | set(te)) == 188 and not set(tr) & set(te)
