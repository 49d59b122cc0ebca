"""The one-call Python API of the CNN half: ``rc.recollect(image)`` and ``rc.compare(image, a=…, b=…)``.

    import recollection as rc

    result = rc.recollect("cat.png", model="digits")          # a path, PIL image, array or tensor; one or a batch
    result.scores                                              # {'pearson': …, 'ssim': …, 'psnr': …, 'edge_pearson': …}
    result.plot()                                              # original | recollection | cascade
    rc.compare("cat.png", a={"source": "class"}, b={"source": "zero"}).plot()

The keyword options are exactly those of ``recollect reconstruct`` (the model, ``random_init`` and
every recollection option, declared once in ``retrace/options.py``), checked the same way, plus
``weights`` and ``device``. Each model is loaded once per process and reused.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import Tensor

from .cnn.inputs import Images, is_batch, to_pixels
from .cnn.models import LoadedModel, load_model
from .cnn.registry import model_options
from .errors import OptionError
from .pictures import caption
from .pipeline import ImageResult, recollect_pixels, save_result, unique_stems
from .retrace.engine import BackwardMap, Recollection, Recollector
from .retrace.options import KINDS, RECOLLECTION_OPTIONS, Source, retrace_options, source_of
from .schema import Param
from .scores import specificity

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn
    from matplotlib.figure import Figure

__all__ = ["Comparison", "RecollectionResult", "api_options", "compare", "recollect"]

DEFAULT_MODEL = "digits"  # offline, as the CLI's and the dashboard's
EXTRA_OPTIONS = ("weights", "device")  # what the call takes besides the schema's options


def api_options() -> dict[str, Param]:
    """Every option ``recollect`` takes besides weights and device, by name: the same declaration as
    ``recollect reconstruct``'s options (the model, ``random_init``, the source and retrace options, the view)."""
    return {**model_options(DEFAULT_MODEL), **RECOLLECTION_OPTIONS}


def check_options(given: Mapping[str, Any], model_object: bool = False) -> dict[str, Any]:
    """Every option's value: the given ones checked against their declaration, the defaults for the rest."""
    schema = api_options()
    unknown = [k for k in given if k not in schema]
    if unknown:
        hints = [f"{k!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(k, schema, 1)) else repr(k)
                 for k in unknown]
        raise OptionError(f"unknown option {', '.join(hints)}; the options are {', '.join([*schema, *EXTRA_OPTIONS])}")
    values: dict[str, Any] = {}
    for name, param in schema.items():
        value = given.get(name, param.default)
        if name == "model" and model_object:
            values[name] = value
            continue
        if name == "normalize" and value is None:
            value = "none"  # None and "none" are the same everywhere
        values[name] = param.check(value, name)
    return values


def _model_key(name: str, weights: str | os.PathLike | None, random_init: bool) -> tuple:
    stamp = os.stat(weights).st_mtime_ns if weights is not None and os.path.exists(weights) else None
    return name, None if weights is None else str(weights), random_init, stamp


_LOADED: dict[tuple, LoadedModel] = {}


def get_loaded(model: str | LoadedModel, weights: str | os.PathLike | None, random_init: bool) -> LoadedModel:
    """The named model, loaded once per process (a LoadedModel is used as given)."""
    if isinstance(model, LoadedModel):
        if weights is not None or random_init:
            raise OptionError("weights and random_init choose how a model is loaded: give them with a model name, "
                              "not with a loaded model")
        return model
    key = _model_key(model, weights, random_init)
    if key not in _LOADED:
        if len(_LOADED) >= 4:  # keep a few models: AlexNet weighs 240 MB
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = load_model(model, weights, random_init=random_init)
    return _LOADED[key]


@dataclass(repr=False)
class RecollectionResult:
    """What :func:`recollect` returns. A single image in gives single-image values out (C×H×W tensors,
    one dict of scores); a batch gives batches (N×C×H×W, a list of dicts).

    Attributes:
        model: the model used (its class names, input size, mean/std).
        config: the effective options, every one of them by name (the model, ``random_init``, the source,
            the retrace options, the view): ``rc.recollect(image, **result.config)`` recollects the same way.
        names: a name per image (the file name, else ``image i``).
        recollection: the engine's raw result (batched; the trace's predictions and targets).
    """

    model: LoadedModel
    config: dict[str, Any]
    names: list[str]
    results: list[ImageResult]
    recollection: Recollection
    single: bool

    def _one(self, values: list) -> Any:
        return values[0] if self.single else values

    def _tensor(self, values: list[Tensor]) -> Tensor:
        return values[0] if self.single else torch.stack(values)

    @property
    def original(self) -> Tensor:
        """The image(s) as the network saw them (resized, centre-cropped), in [0, 1]."""
        return self._tensor([r.pixels for r in self.results])

    @property
    def image(self) -> Tensor:
        """The recollection as a picture in [0, 1], through the ``view`` option (what the CLI saves as PNG)."""
        return self._tensor([r.shown for r in self.results])

    @property
    def raw(self) -> Tensor:
        """The raw reconstruction, before any view (what the CLI saves as ``.npy``)."""
        return self._tensor([r.raw for r in self.results])

    @property
    def scores(self) -> Any:
        """Pearson r, SSIM, PSNR and edge r of the recollection against the original (a dict, or a list)."""
        return self._one([r.scores for r in self.results])

    @property
    def specificity(self) -> Any:
        """Pearson r of the recollection with each control's (random class, zero): near 1, the source adds nothing."""
        return self._one([r.specificity for r in self.results])

    @property
    def predicted(self) -> Any:
        """The class name(s) the network predicts."""
        return self._one([r.predicted_name for r in self.results])

    @property
    def source(self) -> Source:
        return self.recollection.source

    @property
    def cascade(self) -> list[BackwardMap]:
        """Every backward map, from the source down to the input (one image's maps for a single image)."""
        maps = self.recollection.cascade
        return [BackwardMap(m.name, m.value[0]) for m in maps] if self.single else list(maps)

    def __len__(self) -> int:
        return len(self.results)

    def plot(self, max_images: int = 8, cascade: bool = True) -> "Figure":
        """original | recollection | the cascade of backward maps (source first), one row per image,
        titled with the model, the source and the scores.

        Returns:
            A ``matplotlib.figure.Figure`` (shown by Jupyter; save it with ``fig.savefig(path)``).
        """
        from .plotting import recollection_figure

        maps = [(m.name, m.value) for m in self.recollection.cascade[:-1]] if cascade else []
        labels = [f"{short(n)}\n→ {r.predicted_name!r}" for n, r in zip(self.names, self.results)]
        return recollection_figure(torch.stack([r.pixels for r in self.results]),
                                   torch.stack([r.shown for r in self.results]), maps, labels,
                                   [caption(r.scores) for r in self.results], self.title(), max_images)

    def title(self) -> str:
        c = self.config
        model = c["model"] + (" (random weights)" if c["random_init"] else "")
        label = KINDS[self.source.kind].label
        text = f"{model}: recollection from the {label} ({self.source}), {c['view']} view"
        if self.single:
            text += f"; {caption(self.results[0].scores)}"
        return text

    def save(self, out_dir: str | os.PathLike) -> list[Path]:
        """Write each image's ``<stem>.original.png``, ``.recalled.png``, ``.npy`` and ``.json``, as the CLI does."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stems = unique_stems([Path(n) if Path(n).suffix else Path(n.replace(" ", "-")) for n in self.names])
        config = {**self.config, "weights": self.model.weights}
        for result, stem in zip(self.results, stems):
            save_result(result, out, stem, config)
        return [out / f"{stem}.json" for stem in stems]

    def __repr__(self) -> str:
        what = f"{len(self)} images" if not self.single else repr(short(self.names[0]))
        scores = self.scores if self.single else mean_scores(self.scores)
        return (f"<RecollectionResult {what}, model {self.config['model']!r}, source {str(self.source)!r}, "
                f"predicted {self.predicted!r}, {'mean ' if not self.single else ''}{caption(scores)}>")


def short(name: str) -> str:
    return Path(name).name if os.sep in name or "/" in name else name


def mean_scores(scores: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(sum(s[k] for s in scores) / len(scores)) for k in scores[0]}


def recollect(image: Images, model: str | LoadedModel = DEFAULT_MODEL, source: str | Source = "class", *,
              weights: str | os.PathLike | None = None, device: str | torch.device = "cpu",
              **options: Any) -> RecollectionResult:
    """Recollect image(s) in one call: preprocess them the model's way, run them forward, walk back
    from ``source`` to the input, and score the recollection against the original.

    Args:
        image: one image or a batch: a file or folder, a PIL image, a NumPy array (channels-last,
            ``uint8`` or floats in [0, 1]), a tensor (channels-first, the same ranges), or a list of
            them (see :meth:`~recollection.cnn.models.LoadedModel.preprocess`).
        model: a registered model name (``rc.list_models()``) or a :class:`~recollection.cnn.models.LoadedModel`.
        source: where recall starts: ``"class"`` (the predicted class neuron), ``"class:NAME"``,
            ``"last-layer"``, ``"random-class"``, ``"zero"``, ``"layer:N"``, ``"random:N"``, or a
            :class:`~recollection.retrace.options.Source`.
        weights: a weights file for a named model (default: its embedded or cached weights).
        device: where the passes run (``"cpu"``, ``"cuda"``, …).
        **options: any option of ``recollect reconstruct``, by its Python name: ``random_init``,
            ``top``, ``per_channel``, ``normalize``, ``positivise``, ``positivise_conv``,
            ``rectify_input``, ``wta``, ``unpool``, ``seed``, ``view`` (``help(rc.Recollector)`` and
            ``recollect reconstruct --help`` describe each). Unknown names and bad values raise
            :class:`~recollection.errors.OptionError`.

    Returns:
        A :class:`RecollectionResult`: ``.image`` (the recollection as a picture), ``.original``,
        ``.raw``, ``.scores``, ``.specificity`` (vs the random-class and zero controls), ``.cascade``,
        ``.config``, ``.plot()``, ``.save(dir)``.

    Examples:
        >>> import recollection as rc
        >>> result = rc.recollect("seven.png")                       # the embedded digits model
        >>> result.predicted, round(result.scores["pearson"], 2)
        ('7', 0.61)
        >>> result.plot()                                            # a matplotlib Figure
        >>> rc.recollect(batch, source="layer:2", top=5, normalize="none").scores   # a list of dicts
    """
    if isinstance(source, Source):
        for part in ("top", "per_channel"):
            if part in options and options[part] != getattr(source, part):
                raise OptionError(f"{part} is given twice (as an option and in the Source): give it once")
        options = {**options, "top": source.top, "per_channel": source.per_channel}
        source = str(source)
    values = check_options({**options, "model": model, "source": source}, isinstance(model, LoadedModel))
    spec = source_of(values)
    info = get_loaded(values["model"], weights, values["random_init"])
    pixels, names = to_pixels(image, info.size, grey=info.channels == 1)
    rec = Recollector(info.model, classes=info.classes, device=device, **retrace_options(values))
    results, recollection = recollect_pixels(rec, info, pixels, names, spec, values["view"])
    config = {**values, "model": info.name, "source": str(spec)}
    return RecollectionResult(info, config, names, results, recollection, single=not is_batch(image))


@dataclass(repr=False)
class Comparison:
    """What :func:`compare` returns: two recollections of the same image(s) and how alike they are."""

    a: RecollectionResult
    b: RecollectionResult
    labels: tuple[str, str]

    @property
    def similarity(self) -> Any:
        """Pearson r between the two raw reconstructions, per image (1: the difference changed nothing)."""
        if self.a.results[0].raw.shape != self.b.results[0].raw.shape:
            raise OptionError("the two recollections differ in shape (different models): no similarity to compute")
        return self.a._one([specificity(x.raw, y.raw) for x, y in zip(self.a.results, self.b.results)])

    @property
    def scores(self) -> dict[str, Any]:
        """Each side's scores against the original, by label."""
        return {self.labels[0]: self.a.scores, self.labels[1]: self.b.scores}

    def plot(self, max_images: int = 8) -> "Figure":
        """original | a | b | a − b (channel mean; red where a is brighter), one row per image.

        Returns:
            A ``matplotlib.figure.Figure``.
        """
        from .plotting import comparison_figure

        if self.a.results[0].shown.shape != self.b.results[0].shown.shape:
            raise OptionError("the two recollections differ in shape (different models): plot each on its own")
        similarity = self.similarity if not self.a.single else [self.similarity]
        captions = [(caption(x.scores), caption(y.scores), f"r(a, b) = {s:.2f}")
                    for x, y, s in zip(self.a.results, self.b.results, similarity)]
        row_labels = [short(n) for n in self.a.names]
        title = f"{self.a.config['model']}: {self.labels[0]} vs {self.labels[1]}"
        return comparison_figure(torch.stack([r.pixels for r in self.a.results]),
                                 torch.stack([r.shown for r in self.a.results]),
                                 torch.stack([r.shown for r in self.b.results]), self.labels, captions, row_labels,
                                 title, max_images)

    def __repr__(self) -> str:
        return f"<Comparison {self.labels[0]!r} vs {self.labels[1]!r}: a {self.a!r}; b {self.b!r}>"


def difference_labels(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str]:
    """``source=class`` / ``source=zero``: the options on which two configurations differ."""
    keys = [k for k in a if a[k] != b.get(k)]
    if not keys:
        return "a", "b"
    return tuple(", ".join(f"{k}={c[k]}" for k in keys) for c in (a, b))  # type: ignore[return-value]


def compare(image: Images, a: Mapping[str, Any], b: Mapping[str, Any], *, labels: tuple[str, str] | None = None,
            **common: Any) -> Comparison:
    """Recollect the same image(s) two ways and compare: the options in ``common`` apply to both, those in
    ``a`` and ``b`` to one side each.

    Args:
        image: what :func:`recollect` takes.
        a: options of the first recollection, e.g. ``{"source": "class"}``.
        b: options of the second, e.g. ``{"source": "zero"}`` (the switches alone).
        labels: names of the two sides in the figure (default: the options on which they differ).
        **common: options of both sides: ``model``, ``weights``, ``device`` and any of :func:`recollect`.

    Returns:
        A :class:`Comparison`: ``.a`` and ``.b`` (:class:`RecollectionResult`), ``.similarity`` (Pearson r
        of the two reconstructions), ``.scores``, ``.plot()``.

    Examples:
        >>> c = rc.compare("seven.png", a={"source": "class"}, b={"source": "zero"})
        >>> c.similarity          # how much of the recollection the switches alone give
        >>> c.plot()
    """
    first = recollect(image, **{**common, **a})
    second = recollect(image, **{**common, **b})
    return Comparison(first, second, labels or difference_labels(first.config, second.config))
