"""Bounds a user can run into, defined once for every front end."""

MAX_SEED = 2**32 - 1  # NumPy's legacy RandomState and scikit-learn's random_state take 0 … 2³² − 1
