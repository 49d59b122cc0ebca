"""Notebook widgets: ``rc.widgets.explore(image)``, the research notebook's interface as ipywidgets.

Every control is built from the option declaration (``retrace/options.py`` and the model registry):
its choices, its default and its help (as the tooltip), so the explorer offers exactly the options
of ``recollect reconstruct`` and ``rc.recollect``. Changing any control recollects the image again
and redraws the figure. Needs the ``[notebook]`` extra (ipywidgets).
"""

from __future__ import annotations

import html
import os
from typing import Any

import torch

from .errors import RecollectionError

__all__ = ["Explorer", "MissingExtraError", "explore"]

COLUMNS = 4  # controls per row


class MissingExtraError(RecollectionError, ImportError):
    """An optional dependency (an extra of the package) is not installed."""


def require_ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError:
        raise MissingExtraError("rc.widgets needs ipywidgets: pip install 'recollection[notebook]' "
                                "(or pip install ipywidgets)") from None
    return ipywidgets


def source_suggestions(model: str) -> list[str]:
    """The written sources a model takes: every kind, layer:N and random:N for each of its layers."""
    from .api import get_loaded
    from .retrace.options import KINDS
    from .retrace.record import record

    info = get_loaded(model, None, True)  # random weights: only the layer count is needed
    with torch.inference_mode():
        taps = len(record(info.model.cpu(), torch.zeros(1, info.channels, info.size, info.size)).taps)
    forms = []
    for kind in KINDS.values():
        if "layer" in kind.takes:
            forms += [kind.form.replace(":N", f":{n}") for n in range(1, taps)]
        else:
            forms.append(kind.form)
    return forms


def control(widgets: Any, name: str, param: Any, value: Any) -> Any:
    """One widget for one declared option: a dropdown for choices, a checkbox for a flag, a number box."""
    common = {"description": name, "tooltip": param.help, "style": {"description_width": "initial"}}
    if param.choices:
        return widgets.Dropdown(options=list(param.choices), value=value, **common)
    if bool in param.kinds:
        return widgets.Checkbox(value=value, indent=False, **common)
    if int in param.kinds:
        return widgets.IntText(value=value, continuous_update=False, **common)
    if float in param.kinds:
        return widgets.FloatText(value=value, continuous_update=False, **common)
    return widgets.Text(value=str(value), continuous_update=False, **common)


class Explorer:
    """The explorer's widgets and its latest result (``explorer.result``); Jupyter shows ``explorer.widget``.

    Attributes:
        controls: one widget per option, by option name.
        picture: the figure of the latest recollection (an ``ipywidgets.Image``, PNG).
        status: one line: the scores, or what was wrong with the options.
        result: the latest :class:`~recollection.api.RecollectionResult` (None until one succeeded).
        renders: how many recollections were drawn.
    """

    def __init__(self, image: Any, values: dict[str, Any], weights: str | os.PathLike | None,
                 device: str | torch.device, max_images: int) -> None:
        from .api import api_options

        widgets = require_ipywidgets()
        self.image, self.weights, self.device, self.max_images = image, weights, device, max_images
        self.first_model = values["model"]  # the weights file, if any, is this model's
        self.result: Any = None
        self.renders = 0
        self.controls: dict[str, Any] = {}
        for name, param in api_options().items():
            if name == "source":
                self.controls[name] = widgets.Combobox(
                    value=values[name], options=source_suggestions(values["model"]), ensure_option=False,
                    continuous_update=False, description=name, tooltip=param.help,
                    style={"description_width": "initial"})
            else:
                self.controls[name] = control(widgets, name, param, values[name])
        self.picture = widgets.Image(format="png")
        self.status = widgets.HTML()
        items = list(self.controls.values())
        rows = [widgets.HBox(items[i:i + COLUMNS]) for i in range(0, len(items), COLUMNS)]
        self.widget = widgets.VBox([*rows, self.status, self.picture])
        for name, widget in self.controls.items():
            widget.observe(self._model_changed if name == "model" else self.render, names="value")
        self.render()

    def values(self) -> dict[str, Any]:
        """The options as the controls show them now."""
        return {name: widget.value for name, widget in self.controls.items()}

    def render(self, change: Any = None) -> None:
        """Recollect with the controls' options and redraw (an option error is shown, not raised)."""
        from .api import recollect
        from .io import figure_png
        from .pictures import caption

        values = self.values()
        try:
            result = recollect(self.image, weights=self.weights if values["model"] == self.first_model else None,
                               device=self.device, **values)
        except RecollectionError as e:
            self.status.value = f'<span style="color:#b00020">{html.escape(str(e))}</span>'
            return
        self.result = result
        self.picture.value = figure_png(result.plot(max_images=self.max_images), dpi=90)
        scores = result.scores if result.single else result.results[0].scores
        self.status.value = html.escape(f"predicted {result.predicted!r}; {caption(scores, ('pearson', 'ssim', 'psnr'))}"
                                        + ("" if result.single else " (first image)"))
        self.renders += 1

    def _model_changed(self, change: Any) -> None:
        try:
            self.controls["source"].options = source_suggestions(change["new"])
        except RecollectionError:
            pass  # the recollection below says what is wrong
        self.render()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def explore(image: Any, model: str = "digits", *, weights: str | os.PathLike | None = None,
            device: str | torch.device = "cpu", max_images: int = 4, **options: Any) -> Explorer:
    """An interactive recollection of ``image``: one control per option, re-rendered on every change.

    Args:
        image: what :func:`recollection.recollect` takes (one image or a batch; a batch shows
            ``max_images`` rows).
        model: the model to start with (the controls offer every registered one).
        weights: a weights file for the starting model.
        device: where the passes run.
        max_images: rows of the figure for a batch.
        **options: starting values of any option of :func:`recollection.recollect`.

    Returns:
        An :class:`Explorer`; as the last expression of a cell, Jupyter shows its controls and figure.

    Raises:
        MissingExtraError: ipywidgets is not installed (``pip install 'recollection[notebook]'``).

    Examples:
        >>> import recollection as rc
        >>> rc.widgets.explore("seven.png", normalize="none")
    """
    from .api import check_options

    require_ipywidgets()
    values = check_options({**options, "model": model})
    return Explorer(image, values, weights, device, max_images)
