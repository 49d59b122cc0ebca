"""Errors a user can cause and fix: the CLI prints them as one line, never a traceback."""


class RecollectionError(Exception):
    """Base class for every error caused by user input (bad file, bad option, ...)."""


class ImageError(RecollectionError):
    """An input image cannot be read or is unusable."""


class WeightsError(RecollectionError):
    """A weights file is missing, corrupt, fails its checksum or fits another architecture."""


class OptionError(RecollectionError):
    """An option or source specification is out of range or unknown."""


class ModelError(RecollectionError):
    """A model holds a layer the backward retrace does not know how to invert."""
