"""The "state of the art classifier" the name neurons are compared with (naming spec §4)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted


class SpikeSVM(ClassifierMixin, BaseEstimator):
    """RBF SVM on each conv3 map's peak potential, z-scored with the training mean and std (+ eps).

    ``X`` is either the (N, maps) peak features or the full potentials (N, T, maps, H, W).
    """

    def __init__(self, C: float = 1.0, gamma: str | float = "auto", eps: float = 1e-5) -> None:
        self.C = C
        self.gamma = gamma
        self.eps = eps

    @staticmethod
    def peak_features(X) -> np.ndarray:
        X = np.asarray(X)
        return X.max(axis=(1, 3, 4)) if X.ndim == 5 else X.reshape(len(X), -1)

    def fit(self, X, y) -> "SpikeSVM":
        features = self.peak_features(X).astype(np.float64)
        self.mean_ = features.mean(axis=0)
        self.scale_ = features.std(axis=0) + self.eps
        self.svc_ = SVC(C=self.C, kernel="rbf", gamma=self.gamma).fit((features - self.mean_) / self.scale_, y)
        self.classes_ = self.svc_.classes_
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "svc_")
        return self.svc_.predict((self.peak_features(X) - self.mean_) / self.scale_)
