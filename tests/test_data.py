"""The shipped digits and the stratified split, against scikit-learn (which they replace at
run time: importing it takes 1.4 s of every study's start)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits as sklearn_digits
from sklearn.model_selection import train_test_split

from analogjax import models


def test_shipped_digits_are_scikit_learns():
    images, labels = models.load_digits()
    reference = sklearn_digits()
    assert images.dtype == np.uint8 and images.shape == (1797, 64)
    np.testing.assert_array_equal(images, reference.data)
    np.testing.assert_array_equal(labels, reference.target)


LABEL_SETS = {
    "digits": sklearn_digits().target,
    # unequal classes whose shares tie in their remainders: the random tie-breaks matter
    "ties": np.repeat(np.arange(5), [2, 3, 3, 5, 7]),
    "strings": np.array(list("abcab" * 9)),
}


@pytest.mark.parametrize("labels", LABEL_SETS.values(), ids=LABEL_SETS.keys())
@pytest.mark.parametrize("test_fraction", [0.25, 0.3, 0.5])
def test_stratified_split_is_scikit_learns(labels, test_fraction):
    index = np.arange(labels.shape[0])
    for seed in range(8):
        train, test = models.stratified_split(labels, test_fraction, seed)
        train_ref, test_ref = train_test_split(index, test_size=test_fraction,
                                               random_state=seed, stratify=labels)
        np.testing.assert_array_equal(train, train_ref)
        np.testing.assert_array_equal(test, test_ref)


def test_digits_split_is_a_stratified_partition():
    x_train, y_train, x_test, y_test = models.load_digits_split(seed=3)
    images, labels = models.load_digits()
    assert len(x_test) == 450 and len(x_train) == 1347  # ceil(0.25 · 1797) for testing
    split = np.concatenate([x_train, x_test]) * 16  # every image once (as a multiset)
    np.testing.assert_array_equal(np.sort(split.view("V256").ravel()),
                                  np.sort(images.astype(np.float32).view("V256").ravel()))
    share = np.bincount(labels) * 450 / 1797  # each class's test count within 1 of its share
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - share) < 1)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_stratified_split_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        models.stratified_split(np.arange(10) % 2, fraction, 0)


def test_stratified_split_needs_two_examples_per_class():
    with pytest.raises(ValueError, match="at least 2 examples per class"):
        models.stratified_split(np.array([0, 0, 1]), 0.5, 0)
