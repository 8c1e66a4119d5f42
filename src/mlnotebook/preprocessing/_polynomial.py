"""Polynomial features: every monomial of the inputs up to a given degree."""

from __future__ import annotations

import itertools
import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["PolynomialFeatures"]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class PolynomialFeatures(TransformerMixin, BaseEstimator):
    """Expand features into all monomials of total degree at most ``degree``.

    For inputs ``[a, b]`` and ``degree=2`` the output columns are
    ``[1, a, b, a^2, a b, b^2]``.

    Parameters
    ----------
    degree : int or (int, int), default=2
        The largest total degree, or ``(min_degree, max_degree)`` to keep only monomials of
        degree in that range (the bias column is governed by ``include_bias`` alone).
    interaction_only : bool, default=False
        Keep only products of distinct features (no powers): ``[1, a, b, a b]``.
    include_bias : bool, default=True
        Start with the constant column of ones (the degree-0 monomial).

    Attributes
    ----------
    powers_ : ndarray of shape (n_output_features_, n_features_in_)
        ``powers_[j, i]`` is the exponent of input ``i`` in output column ``j``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``fit`` saw column names (a data frame).
    n_output_features_ : int

    Notes
    -----
    Column order (scikit-learn's): the bias first, then degree by degree; within a degree,
    the monomials ``x_{i1} x_{i2} ... x_{id}`` with ``i1 <= i2 <= ... <= id`` (strictly
    increasing for ``interaction_only``) in lexicographic order of ``(i1, ..., id)``, as
    ``itertools.combinations_with_replacement`` lists them. With ``n`` features the full
    expansion has ``C(n + degree, degree)`` columns, which grows fast.

    ``transform`` multiplies input columns right to left, ``x_{id} x_{i(d-1)} ... x_{i1}``,
    which is the order in which scikit-learn accumulates its products, so the floats agree
    bit for bit. Only dense input is supported, and outputs are C-ordered.

    Examples
    --------
    >>> import numpy as np
    >>> from mlnotebook.preprocessing import PolynomialFeatures
    >>> PolynomialFeatures(2).fit_transform(np.array([[2.0, 3.0]]))
    array([[1., 2., 3., 4., 6., 9.]])
    """

    def __init__(self, degree=2, *, interaction_only=False, include_bias=True):
        self.degree = degree
        self.interaction_only = interaction_only
        self.include_bias = include_bias

    def _degree_range(self) -> tuple[int, int]:
        degree = self.degree
        if _is_int(degree):
            if degree < 0:
                raise ValueError(f"degree must be a non-negative integer, got {degree}")
            low, high = 0, int(degree)
        elif (isinstance(degree, tuple | list) and len(degree) == 2
              and all(_is_int(d) for d in degree)):
            low, high = int(degree[0]), int(degree[1])
            if not 0 <= low <= high:
                raise ValueError(f"degree=(min_degree, max_degree) needs "
                                 f"0 <= min_degree <= max_degree, got {degree}")
        else:
            raise TypeError(f"degree must be an int or a pair of ints, got {degree!r}")
        if high == 0 and not self.include_bias:
            raise ValueError("degree=0 with include_bias=False would give no columns at all")
        for name in ("interaction_only", "include_bias"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        return low, high

    def fit(self, X, y=None):
        """Work out the output columns for ``X``'s number of features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : PolynomialFeatures
        """
        low, high = self._degree_range()
        n_features = validate_data(self, X, dtype=None).shape[1]
        pick = itertools.combinations if self.interaction_only else (
            itertools.combinations_with_replacement)
        terms = [()] if self.include_bias else []
        for d in range(max(1, low), high + 1):
            terms.extend(pick(range(n_features), d))

        if not terms:
            raise ValueError(f"degree={self.degree} with interaction_only=True and "
                             f"include_bias=False leaves no columns for {n_features} features")

        # Each term's input columns, padded on the right with column n_features, which
        # transform fills with ones: shape (n_output_features, max(high, 1)).
        width = max(high, 1)
        factors = np.full((len(terms), width), n_features, dtype=np.intp)
        lengths = np.array([len(t) for t in terms], dtype=np.intp)
        if lengths.sum():
            rows = np.repeat(np.arange(len(terms)), lengths)
            cols = np.concatenate([np.arange(n) for n in lengths])
            factors[rows, cols] = np.concatenate([t for t in terms if t])
        self._factors = factors
        self._lengths = lengths
        powers = np.zeros((len(terms), n_features + 1), dtype=np.intp)
        np.add.at(powers, (np.arange(len(terms))[:, None], factors), 1)
        self.powers_ = powers[:, :n_features]
        self.n_output_features_ = len(terms)
        return self

    def transform(self, X):
        """Monomials of ``X``'s columns.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        XP : ndarray of shape (n_samples, n_output_features_)
            Floating dtype of ``X`` (float64 for integer input), columns as in Notes.
        """
        check_is_fitted(self, "powers_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        padded = np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])  # (n, n_in + 1)
        XP = padded[:, self._factors[:, -1]]  # (n, n_out)
        for position in range(self._factors.shape[1] - 2, -1, -1):
            XP *= padded[:, self._factors[:, position]]  # right to left, as scikit-learn
        return XP

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns, such as ``"x0^2 x1"`` or ``"1"`` for the bias.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Input names; defaults to ``feature_names_in_`` or ``x0, x1, ...``.

        Returns
        -------
        ndarray of str objects, shape (n_output_features_,)
        """
        check_is_fitted(self, "powers_")
        names = self._input_names(input_features)
        out = []
        for row in self.powers_:
            used = np.flatnonzero(row)
            parts = [names[i] if row[i] == 1 else f"{names[i]}^{row[i]}" for i in used]
            out.append(" ".join(parts) if parts else "1")
        return np.asarray(out, dtype=object)

    def _input_names(self, input_features) -> list[str]:
        known = getattr(self, "feature_names_in_", None)
        if input_features is None:
            if known is not None:
                return list(known)
            return [f"x{i}" for i in range(self.n_features_in_)]
        names = [str(name) for name in input_features]
        if len(names) != self.n_features_in_:
            raise ValueError(f"input_features has {len(names)} names but fit saw "
                             f"{self.n_features_in_} features")
        if known is not None and list(known) != names:
            raise ValueError(f"input_features {names} differ from the names seen in fit "
                             f"{list(known)}")
        return names
