"""The example notebooks: stored without outputs, and each runs top to bottom on the CPU (nbclient, the
python3 kernel of this interpreter), showing figures and no error."""

import base64
import os
import sys
from pathlib import Path

import pytest

from conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NEEDS = {  # what a notebook reads from ../shared/data
    "02-naming-and-one-shot.ipynb": ("caltech_face_motor/TrainingSet", "sdnn_weights/run61"),
    "03-spiking-recall.ipynb": ("caltech_face_motor/TrainingSet", "sdnn_weights/run61"),
}


def test_there_are_four_notebooks():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01-", "02-", "03-", "04-"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    nbformat = pytest.importorskip("nbformat", reason="the [notebook] extra (nbformat) is not installed")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def run_notebook(path: Path, timeout: int = 600):
    """Execute a notebook in its own folder (as Jupyter does) with this interpreter's python3 kernel."""
    nbformat = pytest.importorskip("nbformat", reason="the [notebook] extra (nbformat) is not installed")
    nbclient = pytest.importorskip("nbclient", reason="the [notebook] extra (nbclient) is not installed")
    pytest.importorskip("ipykernel", reason="the [notebook] extra (ipykernel) is not installed")
    from jupyter_client.manager import KernelManager

    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name="python3")
    km.kernel_spec.argv[0] = sys.executable  # the kernel runs in this interpreter's environment
    client = nbclient.NotebookClient(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


def outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if kind in o.get("data", {})]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom_and_shows_figures(path, monkeypatch):
    for need in NEEDS.get(path.name, ()):
        if not (SHARED / "data" / need).exists():
            pytest.skip(f"{path.name} reads {SHARED / 'data' / need}, which is absent (needs ../shared or RECOLLECTION_SHARED)")
    monkeypatch.setenv("RECOLLECTION_DATA", str(SHARED / "data"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = run_notebook(path)  # an error in any cell raises CellExecutionError, naming the cell
    pngs = outputs(nb, "image/png")
    assert pngs, "no figure was shown"
    assert all(base64.b64decode(o["data"]["image/png"])[:4] == b"\x89PNG" for o in pngs)
    texts = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "Traceback" not in texts
