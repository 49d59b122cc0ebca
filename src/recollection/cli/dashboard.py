"""`recollect dashboard`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from .common import app, err, fail, out, pick_device, user_errors

@app.command()
@user_errors
def dashboard(
    host: Annotated[str, typer.Option(help="Address to listen on (IPv4 or IPv6, e.g. ::1); the default serves this "
                                      "machine only.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8765,
    data: Annotated[Optional[Path], typer.Option(help="Folder with images/, caltech_face_motor/ and sdnn_weights/ "
                                                 "(default: ../shared/data or $RECOLLECTION_DATA).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    naming_data: Annotated[Optional[Path], typer.Option(help="Name panel on a folder of your own: TrainingSet/ and "
                                                        "TestingSet/, one sub-folder per class (thresholds calibrated "
                                                        "on its training images).")] = None,
    naming_weights: Annotated[Optional[str], typer.Option(help="Weight set of the Name panel: a directory with "
                                                          "weight_0.npy … weight_4.npy, or a published name under "
                                                          "--data (default run61).")] = None,
    allow_host: Annotated[Optional[list[str]], typer.Option(help="Another name this server may be reached by "
                                                            "(checked against the Host header; repeat the option). "
                                                            "Loopback names and the --host address are always accepted.")] = None,
) -> None:
    """Serve the web dashboard: recollect, compare two configurations, and name images interactively."""
    from ..dashboard.app import Dashboard
    from ..dashboard.server import make_server, url_of

    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/] listening on {escape(host)}: anyone who can reach this machine can use the "
                  "dashboard (there is no login)")
    try:
        server = make_server(host, port, Dashboard(data, pick_device(device), naming_data, naming_weights),
                             allowed_hosts=tuple(allow_host or ()))
    except OSError as e:
        fail(f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port")
    out.print(f"dashboard on {url_of(server)}  (Ctrl-C to stop)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        out.print("stopped")
    finally:
        server.server_close()

