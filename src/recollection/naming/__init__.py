"""Name neurons on top of the spiking network, and the SVM they are compared with."""

from .neurons import NameNeurons
from .svm import SpikeSVM

__all__ = ["NameNeurons", "SpikeSVM"]
