"""Splitting data for evaluation: hold-out splits and K-fold cross-validation.

Every splitter follows scikit-learn's protocol, ``split(X, y=None, groups=None)`` yielding
``(train, test)`` integer index arrays and ``get_n_splits(...)``, so it can be handed to
scikit-learn's own ``cross_val_score`` or ``GridSearchCV`` as well as to ours.

Randomness follows scikit-learn too: ``random_state`` may be None, an int or a
``numpy.random.RandomState``, and is turned into a generator each time ``split`` is called
(so an int gives the same folds on every call). The splitters draw the same numbers in the
same order as scikit-learn's, so for the same ``random_state`` they give the same indices.
"""

from __future__ import annotations

import numbers
import warnings
from math import ceil, floor

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target

__all__ = [
    "KFold",
    "LeaveOneOut",
    "ShuffleSplit",
    "StratifiedKFold",
    "StratifiedShuffleSplit",
    "train_test_split",
]


def _num_samples(X) -> int:
    """Length of the first axis of an array-like (array, tensor, data frame or list)."""
    if X is None:
        raise TypeError("X must be an array-like with one row per sample, got None")
    shape = getattr(X, "shape", None)
    if shape is not None:
        if len(shape) == 0:
            raise TypeError("X must have at least one dimension, got a scalar")
        return int(shape[0])
    return len(X)


def _repr(obj, names: tuple[str, ...]) -> str:
    args = ", ".join(f"{name}={getattr(obj, name)!r}" for name in names)
    return f"{type(obj).__name__}({args})"


# --------------------------------------------------------------------------------------
# K-fold family: every sample gets exactly one test fold


class _FoldSplitter:
    """A splitter that puts every sample in exactly one test fold.

    Subclasses implement ``_test_folds(n_samples, y) -> (n_samples,) int array`` giving each
    sample's fold; ``split`` then yields, for fold ``k``, the samples outside it as the
    training set and those inside as the test set, both in increasing index order.
    """

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` index arrays, one pair per fold.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Only its length is used.
        y : array-like of shape (n_samples,), default=None
            Class labels; needed by the stratified splitter, ignored by the others.
        groups : ignored
            Accepted for compatibility with scikit-learn's splitter protocol.

        Yields
        ------
        train : ndarray of shape (n_train,), int
            Indices of the training samples, increasing.
        test : ndarray of shape (n_test,), int
            Indices of the test samples, increasing.
        """
        n_samples = _num_samples(X)
        folds = self._test_folds(n_samples, y)
        for k in range(self.get_n_splits(X, y, groups)):
            in_test = folds == k
            yield np.flatnonzero(~in_test), np.flatnonzero(in_test)


class _BaseKFold(_FoldSplitter):
    def __init__(self, n_splits=5, *, shuffle=False, random_state=None):
        if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral):
            raise TypeError(f"n_splits must be an integer, got {n_splits!r}")
        if n_splits < 2:
            raise ValueError(
                f"n_splits must be at least 2 (one fold to test, one to train), got {n_splits}"
            )
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
        if not shuffle and random_state is not None:
            raise ValueError(
                "random_state has no effect when shuffle=False; leave it as None or set "
                "shuffle=True"
            )
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """The number of folds, ``n_splits`` (the arguments are ignored)."""
        return self.n_splits

    def _check_enough_samples(self, n_samples: int) -> None:
        if self.n_splits > n_samples:
            raise ValueError(
                f"n_splits={self.n_splits} is greater than the number of samples "
                f"n_samples={n_samples}; every fold needs at least one sample"
            )

    def __repr__(self) -> str:
        return _repr(self, ("n_splits", "random_state", "shuffle"))


class KFold(_BaseKFold):
    """K-fold cross-validation: consecutive blocks of (optionally shuffled) samples.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2.
    shuffle : bool, default=False
        Whether to permute the samples before cutting them into blocks.
    random_state : None, int or numpy.random.RandomState, default=None
        Seeds the permutation when ``shuffle=True``; must be None otherwise.

    Notes
    -----
    With ``n`` samples and ``K`` folds the first ``n % K`` folds hold ``n // K + 1`` samples
    and the others ``n // K``, so fold sizes differ by at most one. Without shuffling fold
    ``k`` is a block of consecutive indices; with shuffling the indices are first put in the
    order of ``RandomState(random_state).permutation`` (the same draw as scikit-learn's
    ``shuffle``), the blocks are cut from that order, and each fold's indices are then
    reported in increasing order. Sorted data without shuffling give unrepresentative folds.

    Examples
    --------
    >>> import numpy as np
    >>> from mlnotebook.evaluation import KFold
    >>> [test.tolist() for _, test in KFold(3).split(np.zeros(7))]
    [[0, 1, 2], [3, 4], [5, 6]]
    """

    def _test_folds(self, n_samples: int, y) -> np.ndarray:
        self._check_enough_samples(n_samples)
        order = np.arange(n_samples)
        if self.shuffle:
            check_random_state(self.random_state).shuffle(order)
        sizes = np.full(self.n_splits, n_samples // self.n_splits)
        sizes[: n_samples % self.n_splits] += 1
        folds = np.empty(n_samples, dtype=np.intp)
        folds[order] = np.repeat(np.arange(self.n_splits), sizes)  # block k -> fold k
        return folds


class StratifiedKFold(_BaseKFold):
    """K-fold cross-validation that keeps each fold's class proportions close to the data's.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2.
    shuffle : bool, default=False
        Whether to shuffle, within each class, which samples go to which fold.
    random_state : None, int or numpy.random.RandomState, default=None
        Seeds the shuffling when ``shuffle=True``; must be None otherwise.

    Notes
    -----
    The allocation is scikit-learn's. Classes are numbered in order of first appearance in
    ``y``. Sort the numbered labels and deal them out round robin: position ``p`` of the
    sorted labels goes to fold ``p % n_splits``. That fixes how many samples of each class
    each fold gets (class counts per fold differ by at most one, and overall fold sizes by at
    most one). Within a class the fold labels are then laid out in blocks, fold 0's samples
    first, over the class's samples in index order; ``shuffle=True`` permutes each class's
    block labels with ``RandomState.shuffle``, class by class. The folds therefore equal
    scikit-learn's for the same ``random_state``.

    A class with fewer members than ``n_splits`` is allowed (with a warning) but then some
    folds have none of it; if every class is that small it is an error.
    """

    def _test_folds(self, n_samples: int, y) -> np.ndarray:
        self._check_enough_samples(n_samples)
        if y is None:
            raise ValueError("StratifiedKFold needs the class labels y to stratify on")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"y must hold binary or multiclass labels, got target type {kind!r}")
        if len(y) != n_samples:
            raise ValueError(f"y has {len(y)} labels but X has {n_samples} samples")

        _, first_seen, codes = np.unique(y, return_index=True, return_inverse=True)
        appearance = np.argsort(np.argsort(first_seen))  # lexicographic code -> appearance
        label = appearance[codes]
        n_classes = len(first_seen)
        counts = np.bincount(label, minlength=n_classes)
        if np.all(counts < self.n_splits):
            raise ValueError(
                f"n_splits={self.n_splits} is greater than the number of members of every "
                f"class (largest class has {counts.max()})"
            )
        if counts.min() < self.n_splits:
            warnings.warn(
                f"the least populated class in y has only {counts.min()} members, fewer "
                f"than n_splits={self.n_splits}", UserWarning, stacklevel=3,
            )

        # Deal the sorted labels round robin: position p goes to fold p % n_splits.
        dealt_to = np.arange(n_samples) % self.n_splits
        per_fold = np.bincount(dealt_to * n_classes + np.sort(label),
                               minlength=self.n_splits * n_classes)
        per_fold = per_fold.reshape(self.n_splits, n_classes)  # (n_splits, n_classes)

        rng = check_random_state(self.random_state)
        folds = np.empty(n_samples, dtype=np.intp)
        for c in range(n_classes):
            fold_labels = np.repeat(np.arange(self.n_splits), per_fold[:, c])
            if self.shuffle:
                rng.shuffle(fold_labels)
            folds[label == c] = fold_labels
        return folds


class LeaveOneOut(_FoldSplitter):
    """Leave-one-out: ``n`` folds, each testing on one sample and training on the rest.

    Equivalent to ``KFold(n_splits=n_samples)``: fold ``i`` tests on sample ``i``.
    """

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """The number of samples in ``X`` (one split per sample)."""
        if X is None:
            raise ValueError("LeaveOneOut.get_n_splits needs X: it makes one split per sample")
        return _num_samples(X)

    def _test_folds(self, n_samples: int, y) -> np.ndarray:
        if n_samples < 2:
            raise ValueError(f"LeaveOneOut needs at least 2 samples, got n_samples={n_samples}")
        return np.arange(n_samples)

    def __repr__(self) -> str:
        return "LeaveOneOut()"


# --------------------------------------------------------------------------------------
# Random hold-out splits


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_fraction(value) -> bool:
    return isinstance(value, numbers.Real) and not _is_int(value) and not isinstance(value, bool)


def _split_sizes(n_samples: int, test_size, train_size, default_test_size) -> tuple[int, int]:
    """``(n_train, n_test)`` from sizes given as fractions in (0, 1) or counts in [1, n).

    A fractional test size rounds up (``ceil``) and a fractional train size rounds down
    (``floor``), as in scikit-learn; a size left as None takes the rest of the samples.
    """
    if test_size is None and train_size is None:
        test_size = default_test_size
    counts = {}
    for name, size in (("test_size", test_size), ("train_size", train_size)):
        if size is None:
            continue
        if _is_int(size):
            if not 0 < size < n_samples:
                raise ValueError(f"{name}={size} must be a count in [1, {n_samples - 1}] "
                                 f"(there are {n_samples} samples) or a fraction in (0, 1)")
            counts[name] = int(size)
        elif _is_fraction(size):
            if not 0 < size < 1:
                raise ValueError(f"{name}={size} must be a fraction in (0, 1) or a count in "
                                 f"[1, {n_samples - 1}]")
            counts[name] = (ceil if name == "test_size" else floor)(size * n_samples)
        else:
            raise TypeError(f"{name} must be a float, an int or None, got {size!r}")
    if _is_fraction(test_size) and _is_fraction(train_size) and test_size + train_size > 1:
        raise ValueError(f"test_size + train_size = {test_size + train_size} must not exceed 1")
    n_test = counts.get("test_size", n_samples - counts.get("train_size", 0))
    n_train = counts.get("train_size", n_samples - n_test)
    if n_train + n_test > n_samples:
        raise ValueError(f"train_size and test_size ask for {n_train} + {n_test} samples but "
                         f"there are only {n_samples}")
    if n_train == 0:
        raise ValueError(f"with n_samples={n_samples}, test_size={test_size} and "
                         f"train_size={train_size} the training set would be empty")
    return n_train, n_test


def _largest_remainder(counts: np.ndarray, n_draws: int, rng) -> np.ndarray:
    """Share ``n_draws`` among classes in proportion to ``counts``, in whole numbers.

    Hamilton's largest-remainder method: every class gets the floor of its exact share, and
    the draws left over go to the classes with the largest fractional parts. Ties between
    equal remainders are broken at random with ``rng.choice``, as scikit-learn's
    ``_approximate_mode`` does, so the shares (and the random stream) match it.
    """
    exact = counts / counts.sum() * n_draws
    share = np.floor(exact)
    left = int(n_draws - share.sum())
    remainder = exact - share
    for value in np.unique(remainder)[::-1]:  # largest remainder first
        if left == 0:
            break
        (tied,) = np.nonzero(remainder == value)
        chosen = rng.choice(tied, size=min(len(tied), left), replace=False)
        share[chosen] += 1
        left -= len(chosen)
    return share.astype(int)


class _BaseShuffleSplit:
    def __init__(self, n_splits=10, *, test_size=None, train_size=None, random_state=None):
        if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral):
            raise TypeError(f"n_splits must be an integer, got {n_splits!r}")
        if n_splits < 1:
            raise ValueError(f"n_splits must be at least 1, got {n_splits}")
        self.n_splits = int(n_splits)
        self.test_size = test_size
        self.train_size = train_size
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """The number of random splits, ``n_splits`` (the arguments are ignored)."""
        return self.n_splits

    def __repr__(self) -> str:
        return _repr(self, ("n_splits", "random_state", "test_size", "train_size"))


class ShuffleSplit(_BaseShuffleSplit):
    """Independent random train/test splits.

    Parameters
    ----------
    n_splits : int, default=10
        Number of splits to draw.
    test_size, train_size : float, int or None
        A fraction in (0, 1) or a count. A fractional test size rounds up and a fractional
        train size down; None takes the complement, and if both are None the test size is
        0.1.
    random_state : None, int or numpy.random.RandomState, default=None

    Notes
    -----
    Split ``s`` draws ``perm = rng.permutation(n_samples)`` and returns
    ``train = perm[n_test : n_test + n_train]`` and ``test = perm[:n_test]``, in that
    (random) order, exactly as scikit-learn. Splits may overlap each other.
    """

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` index arrays of shapes (n_train,) and (n_test,)."""
        n_samples = _num_samples(X)
        n_train, n_test = _split_sizes(n_samples, self.test_size, self.train_size, 0.1)
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            perm = rng.permutation(n_samples)
            yield perm[n_test : n_test + n_train], perm[:n_test]


class StratifiedShuffleSplit(_BaseShuffleSplit):
    """Random train/test splits whose class counts follow the class proportions in ``y``.

    Parameters are those of :class:`ShuffleSplit`; ``split`` needs ``y``.

    Notes
    -----
    Per split, as in scikit-learn: the training set's class counts are the largest-remainder
    shares of ``n_train`` (ties broken at random), the test set's those of ``n_test`` among
    the samples left; each class's samples are permuted and cut into its training and test
    parts; finally the training and the test indices are each permuted. Every class needs at
    least two members, and both sets at least one sample per class. Only one-dimensional
    ``y`` is supported (scikit-learn also accepts multilabel rows).
    """

    def split(self, X, y, groups=None):
        """Yield ``(train, test)`` index arrays of shapes (n_train,) and (n_test,)."""
        n_samples = _num_samples(X)
        if y is None:
            raise ValueError("StratifiedShuffleSplit needs the class labels y to stratify on")
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n_samples:
            raise ValueError(f"y must be one label per sample, shape ({n_samples},); got "
                             f"shape {y.shape}")
        n_train, n_test = _split_sizes(n_samples, self.test_size, self.train_size, 0.1)
        classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
        if counts.min() < 2:
            raise ValueError(f"every class in y needs at least 2 members; classes "
                             f"{classes[counts < 2].tolist()} have only 1")
        for name, size in (("train", n_train), ("test", n_test)):
            if size < len(classes):
                raise ValueError(f"the {name} set has {size} samples, fewer than the "
                                 f"{len(classes)} classes")
        # Sample indices grouped by class, each group in increasing order.
        by_class = np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])

        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            n_train_c = _largest_remainder(counts, n_train, rng)
            n_test_c = _largest_remainder(counts - n_train_c, n_test, rng)
            train, test = [], []
            for members, a, b in zip(by_class, n_train_c, n_test_c, strict=True):
                shuffled = members[rng.permutation(len(members))]
                train.append(shuffled[:a])
                test.append(shuffled[a : a + b])
            yield rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _take(a, index: np.ndarray):
    """Rows ``index`` of ``a``, keeping its kind: data frames by position, lists as lists."""
    if hasattr(a, "iloc"):
        return a.iloc[index]
    if isinstance(a, list | tuple):
        # object dtype keeps each element as it was; only the row order changes
        rows = np.empty(len(a), dtype=object)
        rows[:] = list(a)
        return rows[index].tolist()
    return a[index]


def train_test_split(*arrays, test_size=None, train_size=None, random_state=None,
                     shuffle=True, stratify=None):
    """Split arrays into random training and test subsets, as scikit-learn does.

    Parameters
    ----------
    *arrays : array-likes of the same length n_samples
        NumPy arrays, torch tensors, data frames (indexed by position) or lists.
    test_size : float, int or None, default=None
        Fraction in (0, 1) (rounded up) or count of test samples. If both sizes are None
        it is 0.25.
    train_size : float, int or None, default=None
        Fraction (rounded down) or count of training samples; None means the rest.
    random_state : None, int or numpy.random.RandomState, default=None
    shuffle : bool, default=True
        If False the first ``n_train`` samples train and the next ``n_test`` test.
    stratify : array-like of shape (n_samples,) or None, default=None
        Class labels whose proportions both parts should keep (needs ``shuffle=True``).

    Returns
    -------
    list
        ``[a_train, a_test, b_train, b_test, ...]``, two entries per input array.

    Notes
    -----
    With shuffling the split is the first split of ``ShuffleSplit`` (or
    ``StratifiedShuffleSplit`` when stratifying) with the resolved counts, so the rows are
    the same, in the same order, as scikit-learn's for the same ``random_state``.

    Examples
    --------
    >>> import numpy as np
    >>> from mlnotebook.evaluation import train_test_split
    >>> X, y = np.arange(20).reshape(10, 2), np.arange(10)
    >>> X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0)
    >>> X_tr.shape, X_te.shape
    ((7, 2), (3, 2))
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array to split")
    n_samples = _num_samples(arrays[0])
    lengths = [_num_samples(a) for a in arrays]
    if len(set(lengths)) > 1:
        raise ValueError(f"all arrays must have the same number of samples, got {lengths}")
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    n_train, n_test = _split_sizes(n_samples, test_size, train_size, 0.25)
    if not shuffle:
        if stratify is not None:
            raise ValueError("stratify needs shuffle=True: an unshuffled split cannot "
                             "balance classes")
        train, test = np.arange(n_train), np.arange(n_train, n_train + n_test)
    else:
        splitter = (ShuffleSplit if stratify is None else StratifiedShuffleSplit)(
            n_splits=1, test_size=n_test, train_size=n_train, random_state=random_state)
        train, test = next(splitter.split(arrays[0], stratify))
    return [part for a in arrays for part in (_take(a, train), _take(a, test))]
