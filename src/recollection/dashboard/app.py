"""The dashboard's request handlers: plain functions from a request to a JSON or PNG response, so they
can be tested without a server. No string from the client ever becomes a file-system path: samples
and static files are looked up by name in tables built at start-up, uploads live in memory."""

from __future__ import annotations

import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from PIL import Image

from ..cnn.registry import get_model, list_models, model_options
from ..errors import RecollectionError
from ..retrace.options import KINDS, RECOLLECTION_OPTIONS, TOP, Source, retrace_options
from ..schema import Param
from . import attend as attend_tab
from .errors import ClientError
from .inputs import (DECODES_AT_ONCE, MAX_UPLOAD_BYTES, UPLOAD_MAX_PIXELS, UPLOAD_SIDE, Uploads, bool_option,
                     config_option, number_option, parse_json_object, shrink_upload)
from .render import data_uri, map_picture, png_bytes, tensor_picture

STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/attend.js": ("attend.js", "text/javascript; charset=utf-8"), "/style.css": ("style.css", "text/css; charset=utf-8")}
FORM = {**model_options("digits"), **RECOLLECTION_OPTIONS}  # the page's options: the schema, nothing added
SOURCE_PARTS = {  # the page writes a source as its kind plus these; the CLI and studies write "class:NAME", "layer:N"
    "target": Param(str, "", help="A class name or index; empty: the predicted class."),
    "layer": Param(int, 1, help="Layer N, counted back from the last layer (see `recollect layers`)."),
}
LABELS = {"model": "Model", "random_init": "random weights (control)", "source": "Source",
          "target": "Class (name or index; empty: predicted)", "layer": "Layer N (layer / noise sources)",
          "top": "Top P % (layer source)", "per_channel": "top P % per channel", "normalize": "Normalisation",
          "positivise": "rectify dense steps", "positivise_conv": "rectify conv / unpool steps",
          "rectify_input": "rectify the reconstructed input", "wta": "winner-take-all across channels",
          "unpool": "Unpooling", "view": "View", "seed": "Seed", "mix": "Mix", "method": "Method",
          "cue": "Cue (class or a control)", "classes": "Classes cued (comma-separated; empty: seen)"}  # the page's wording; the option's name otherwise


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> "Response":
        return cls(status, json.dumps(payload, default=float).encode())

    @classmethod
    def error(cls, message: str, status: int = 400) -> "Response":
        return cls.json({"error": message}, status)


def schema_option(config: dict, key: str, param: Param) -> Any:
    """The page's value of one option, read by the option's type (its default when absent) and checked."""
    kind = param.kinds[0]
    if kind is bool:
        return bool_option(config, key, param.default)
    if kind in (int, float):
        return param.check(number_option(config, key, param.default, kind), key, ClientError)
    return param.check(str(config.get(key, param.default)), key, ClientError)


def described(params: dict[str, Param]) -> dict[str, dict]:
    """The schema as the page reads it: type, default, choices, help and a label per option."""
    return {name: {**param.describe(), "label": LABELS.get(name, name)} for name, param in params.items()}


class Dashboard:
    """State shared by all requests: models, samples, uploads and the naming network."""

    def __init__(self, data_root: str | Path | None = None, device: str = "cpu", naming_data: str | Path | None = None,
                 naming_weights: str | None = None) -> None:
        from .samples import naming_samples, recollect_samples

        self.device = device
        self.uploads = Uploads()
        self.samples = recollect_samples(data_root)
        self.naming_samples = naming_samples(data_root, naming_data, naming_weights)
        self.data_root = data_root
        self._models: dict[tuple, Any] = {}
        self._naming = None
        self._lock = threading.Lock()
        # big decodes run on these few threads only: the C allocator keeps freed memory per thread
        # (glibc arenas), so decoding on every request thread would let each hold on to ~100 MB
        self._decoder = ThreadPoolExecutor(DECODES_AT_ONCE, thread_name_prefix="dashboard-decode")

    # --- routing ---------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: str = "", body: bytes = b"", content_type: str = "") -> Response:
        try:
            if method == "GET" and path in STATIC:
                name, kind = STATIC[path]
                return Response(200, (resources.files("recollection.dashboard") / "static" / name).read_bytes(), kind)
            routes = {
                ("GET", "/api/options"): lambda: self.options(),
                ("GET", "/api/classes"): lambda: self.classes(parse_qs(query)),
                ("GET", "/api/sample"): lambda: self.sample_png(parse_qs(query)),
                ("POST", "/api/upload"): lambda: self.upload(body, content_type),
                ("POST", "/api/recollect"): lambda: self.recollect(self.json_body(body)),
                ("POST", "/api/compare"): lambda: self.compare(self.json_body(body)),
                ("POST", "/api/name"): lambda: self.name(self.json_body(body)),
                ("POST", "/api/teach"): lambda: self.teach(self.json_body(body)),
                ("POST", "/api/recall"): lambda: self.recall(self.json_body(body)),
                ("POST", "/api/attend"): lambda: self.attend(self.json_body(body)),
            }
            route = routes.get((method, path))
            if route is None:
                return Response.error(f"no such page: {method} {path}", 404)
            return route()
        except RecollectionError as e:
            return Response.error(str(e))
        except Exception as e:  # never a traceback in the page
            return Response.error(f"internal error ({type(e).__name__}: {e}); please report it", 500)

    @staticmethod
    def json_body(body: bytes) -> dict:
        return parse_json_object(body)

    # --- options, samples, uploads --------------------------------------------------------------------
    def options(self) -> Response:
        """Everything the page's forms are built from: the option schema, the source kinds, the models."""
        return Response.json({
            "options": described(FORM), "source_parts": described(SOURCE_PARTS),
            "source_kinds": [{"kind": kind, "label": k.label, "help": k.help, "takes": list(k.takes)}
                             for kind, k in KINDS.items()],
            "models": [{"name": m, "pretrained": get_model(m).weights_available(), "help": get_model(m).help}
                       for m in list_models()],
            "samples": list(self.samples), "naming": {"available": self.naming_samples is not None,
                                                      **(self.naming_samples.listing() if self.naming_samples else {})},
            "max_upload_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
            "attend": described({**attend_tab.ATTEND_FORM, **attend_tab.ATTEND_PARTS}),
        })

    def classes(self, query: dict) -> Response:
        names = get_model(query.get("model", [FORM["model"].default])[0]).class_names()
        needle = query.get("q", [""])[0].strip().lower()
        found = [{"index": i, "name": n} for i, n in enumerate(names) if needle in n.lower()]
        return Response.json({"classes": found[:50], "total": len(found)})

    def sample_png(self, query: dict) -> Response:
        name = query.get("name", [""])[0]
        image = self.samples.get(name) or (self.naming_samples.picture(name) if self.naming_samples else None)
        if image is None:
            raise ClientError(f"unknown sample {name!r}")
        buffer = io.BytesIO()
        image().save(buffer, "PNG")
        return Response(200, buffer.getvalue(), "image/png", {"Cache-Control": "max-age=3600"})

    def upload(self, body: bytes, content_type: str) -> Response:
        from ..data.images import load_image_bytes

        if len(body) > MAX_UPLOAD_BYTES:
            raise ClientError(f"the file is {len(body) / 2**20:.1f} MB; uploads are limited to "
                              f"{MAX_UPLOAD_BYTES // 2**20} MB")
        if not body:
            raise ClientError("the upload is empty")
        image = self._decoder.submit(lambda: shrink_upload(load_image_bytes(
            body, "upload", shorter_side=UPLOAD_SIDE, max_pixels=UPLOAD_MAX_PIXELS, reduce=True))).result()
        return Response.json({"token": self.uploads.add(image), "width": image.width, "height": image.height})

    def picture(self, ref: Any) -> Image.Image:
        """An image named by the page: {"sample": name} or {"upload": token}."""
        if not isinstance(ref, dict):
            raise ClientError("choose a sample image or upload one")
        if "upload" in ref:
            return self.uploads.get(str(ref["upload"]))
        factory = self.samples.get(str(ref.get("sample", "")))
        if factory is None:
            raise ClientError(f"unknown sample image {ref.get('sample')!r}")
        return factory()

    # --- recollection ------------------------------------------------------------------------------
    def model(self, name: str, random_init: bool):
        from ..cnn.models import load_model

        get_model(name)  # an unknown name is one line naming the choices
        key = (name, random_init)
        with self._lock:
            if key not in self._models:
                try:
                    self._models[key] = load_model(name, random_init=random_init, download_ok=False)
                except RecollectionError as e:
                    raise ClientError(f"{e} Tick 'random weights' to use {name} without them.") from None
            return self._models[key]

    @staticmethod
    def source(config: dict) -> Source:
        """The page's source: its kind plus the parts that kind takes (a class, a layer, top P %)."""
        kind = str(config.get("source", FORM["source"].default))
        takes = KINDS[kind].takes if kind in KINDS else ()
        spec = kind
        target = str(config.get("target", SOURCE_PARTS["target"].default)).strip()
        if "target" in takes and target:
            spec = f"{kind}:{target}"
        if "layer" in takes:
            spec = f"{kind}:{int(schema_option(config, 'layer', SOURCE_PARTS['layer']))}"
        if "top" not in takes:
            return Source.parse(spec)
        return Source.parse(spec, top=schema_option(config, "top", TOP),
                            per_channel=schema_option(config, "per_channel", FORM["per_channel"]))

    def run_recollection(self, image: Image.Image, config: dict) -> dict:
        from ..pipeline import shown_image
        from ..retrace.engine import Recollector
        from ..scores import score_reconstruction

        start = time.perf_counter()
        values = {name: schema_option(config, name, param) for name, param in FORM.items()}
        source = self.source(config)
        info = self.model(values["model"], values["random_init"])
        rec = Recollector(info.model, classes=info.classes, device=self.device, **retrace_options(values))
        pixels = info.to_pixels(image)
        result = rec(info.normalise(pixels[None]), source)
        raw = result.image.float().cpu()
        shown = shown_image(raw, values["view"], info)[0]
        predicted = int(result.predicted[0])
        target = None if result.targets is None else int(result.targets[0])
        return {
            "pixels": pixels, "raw": raw[0], "shown": shown,
            "payload": {
                "original": data_uri(png_bytes(tensor_picture(pixels, 128))),
                "recollection": data_uri(png_bytes(tensor_picture(shown, 128))),
                "cascade": [{"name": m.name, "image": data_uri(png_bytes(map_picture(m.value[0])))}
                            for m in result.cascade],
                "scores": score_reconstruction(pixels, shown),
                "predicted": {"index": predicted, "name": info.classes[predicted]},
                "target": None if target is None else {"index": target, "name": info.classes[target]},
                "start": result.start, "model": info.name, "weights": info.weights,
                # what was run, as the CLI and studies write it
                "config": {**values, "source": str(source), "top": source.top, "per_channel": source.per_channel},
                "milliseconds": round((time.perf_counter() - start) * 1e3, 1),
            },
        }

    def recollect(self, request: dict) -> Response:
        return Response.json(self.run_recollection(self.picture(request.get("image")), config_option(request, "config"))["payload"])

    def compare(self, request: dict) -> Response:
        from ..scores import image_pearson

        image = self.picture(request.get("image"))
        a = self.run_recollection(image, config_option(request, "a"))
        b = self.run_recollection(image, config_option(request, "b"))
        if a["shown"].shape != b["shown"].shape:
            raise ClientError("the two configurations use models of different input sizes; compare within one model")
        diff = (a["shown"].float() - b["shown"].float()).mean(0).numpy()
        scale = float(np.abs(diff).max()) or 1.0
        import matplotlib

        coloured = matplotlib.colormaps["RdBu_r"](0.5 + 0.5 * diff / scale)[..., :3]
        k = max(1, 128 // diff.shape[0])
        coloured = coloured.repeat(k, 0).repeat(k, 1)
        return Response.json({"a": a["payload"], "b": b["payload"], "difference": data_uri(png_bytes(coloured)),
                              "difference_max": scale, "r_raw": image_pearson(a["raw"], b["raw"]),
                              "r_shown": image_pearson(a["shown"], b["shown"])})

    # --- naming ------------------------------------------------------------------------------------
    def naming(self):
        if self.naming_samples is None:
            raise ClientError("naming needs the Caltech faces/motorbikes folders and the published weights "
                              "(../shared/data, or start the dashboard with --data DIR)")
        with self._lock:
            if self._naming is None:
                from .naming import NamingState

                self._naming = NamingState(self.naming_samples)
            return self._naming

    def naming_picture(self, ref: Any) -> Image.Image:
        if isinstance(ref, dict) and "upload" in ref:
            return self.uploads.get(str(ref["upload"]))
        loader = self.naming_samples.picture(str(ref.get("sample"))) \
            if isinstance(ref, dict) and self.naming_samples is not None else None
        if loader is None:
            raise ClientError("choose one of the sample images or upload one")
        return loader()

    def name(self, request: dict) -> Response:
        return Response.json(self.naming().name(self.naming_picture(request.get("image"))))

    def recall(self, request: dict) -> Response:
        return Response.json(self.naming().recall(str(request.get("name", "")), str(request.get("flavour", "rate")),
                                                  bool_option(request, "cue", False)))

    def teach(self, request: dict) -> Response:
        state = self.naming()
        taught = request.get("taught")
        if taught is None:  # the page before folders of your own: one face, one motorbike
            taught = [request.get("face"), request.get("motor")]
        if not isinstance(taught, list) or len(taught) != len(state.classes):
            raise ClientError(f"teach one image per class, in order: {', '.join(state.classes)}")
        return Response.json(state.teach([self.naming_picture(ref) for ref in taught]))

    # --- attention ---------------------------------------------------------------------------------
    def attend(self, request: dict) -> Response:
        return Response.json(attend_tab.attend(request.get("images"), request.get("config", {}), self.model,
                                               self.picture, self.device))
