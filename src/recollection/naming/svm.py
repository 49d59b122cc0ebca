"""The "state of the art classifier" the name neurons are compared with (naming spec §4)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import SVC
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn ≥ 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover (older scikit-learn: the estimator's own method)
    def validate_data(estimator, X="no_validation", y="no_validation", reset=True, **kwargs):  # type: ignore[misc]
        return estimator._validate_data(X, y, reset=reset, **kwargs)


class SpikeSVM(ClassifierMixin, BaseEstimator):
    """RBF SVM on each conv3 map's peak potential, z-scored with the training mean and std (+ eps).

    ``X`` is either the (N, maps) peak features or the full potentials (N, T, maps, H, W). A fitted
    SpikeSVM keeps its training features (``fit_X_``, ``fit_y_``: a few numbers per image), which is how
    it is saved (:meth:`state`) and restored: refit, deterministically (libsvm), no pickle.
    """

    def __init__(self, C: float = 1.0, gamma: str | float = "auto", eps: float = 1e-5) -> None:
        self.C = C
        self.gamma = gamma
        self.eps = eps

    @staticmethod
    def peak_features(X) -> np.ndarray:
        """(N, T, maps, H, W) potentials → (N, maps) peaks; (N, …) arrays flattened per image."""
        X = np.asarray(X)
        return X.max(axis=(1, 3, 4)) if X.ndim == 5 else X.reshape(len(X), -1)

    @classmethod
    def _peaks(cls, X):
        """Potentials become peak features; anything else is left to validate_data to check."""
        return cls.peak_features(X) if isinstance(X, np.ndarray) and X.ndim > 2 else X

    def fit(self, X, y) -> "SpikeSVM":
        X, y = validate_data(self, self._peaks(X), y, dtype=np.float64)
        check_classification_targets(y)
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0) + self.eps
        self.svc_ = SVC(C=self.C, kernel="rbf", gamma=self.gamma).fit((X - self.mean_) / self.scale_, y)
        self.classes_ = self.svc_.classes_
        self.fit_X_, self.fit_y_ = X, np.asarray(y)
        return self

    def decision_function(self, X) -> np.ndarray:
        check_is_fitted(self, "svc_")
        X = validate_data(self, self._peaks(X), dtype=np.float64, reset=False)
        return self.svc_.decision_function((X - self.mean_) / self.scale_)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "svc_")
        X = validate_data(self, self._peaks(X), dtype=np.float64, reset=False)
        return self.svc_.predict((X - self.mean_) / self.scale_)

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """What a saved model holds: the parameters (JSON) and the training features (no pickle)."""
        check_is_fitted(self, "svc_")
        return self.get_params(), {"X": np.asarray(self.fit_X_, np.float64), "y": np.asarray(self.fit_y_)}

    @classmethod
    def from_state(cls, params: dict, arrays: dict[str, np.ndarray]) -> "SpikeSVM":
        """The fitted SVM back from :meth:`state` (refit on the saved features: the same model)."""
        return cls(**params).fit(arrays["X"], arrays["y"])
