"""Downloads and weights resolution against a local HTTP server (no internet needed)."""

from __future__ import annotations

import hashlib
import io
import random
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from torch import nn

from recollection.cnn.weights import expected_hash_prefix, load_into, load_state_dict, resolve_weights
from recollection.data.download import DownloadError, check_hash_prefix, download, sha256_of
from recollection.errors import WeightsError

PAYLOAD = random.Random(0).randbytes(200_000)


def _saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


class RangeHandler(BaseHTTPRequestHandler):
    """Serves the server's directory, honouring ``Range: bytes=N-`` unless the server says not to."""

    def do_GET(self) -> None:
        self.server.range_headers.append(self.headers.get("Range"))
        path = self.server.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and self.server.honour_range:
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: self.server.cut_after])
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.root, httpd.range_headers, httpd.honour_range, httpd.cut_after = root, [], True, None
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/alexnet-owt-7be5be79.pth"


def serve(server, name: str, data: bytes = PAYLOAD) -> str:
    (server.root / name).write_bytes(data)
    return f"{server.url}/{name}"


def test_download_fetches_the_exact_bytes(server, tmp_path):
    url = serve(server, "blob.bin")
    dest = download(url, tmp_path / "out" / "blob.bin", sha256_prefix=hashlib.sha256(PAYLOAD).hexdigest()[:10])
    assert dest == tmp_path / "out" / "blob.bin"
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "out" / "blob.bin.part").exists()
    assert server.range_headers == [None]


def test_checksum_mismatch_raises_and_leaves_no_file(server, tmp_path):
    url = serve(server, "blob.bin")
    assert not hashlib.sha256(PAYLOAD).hexdigest().startswith("00000000")
    with pytest.raises(WeightsError, match="corrupt"):
        download(url, tmp_path / "blob.bin", sha256_prefix="00000000")
    assert list(tmp_path.glob("blob.bin*")) == []


def test_resume_sends_range_and_completes(server, tmp_path):
    url = serve(server, "blob.bin")
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD[:100_000])
    download(url, tmp_path / "blob.bin")
    assert server.range_headers == ["bytes=100000-"]
    assert (tmp_path / "blob.bin").read_bytes() == PAYLOAD


def test_cut_connection_keeps_the_part_for_the_next_try(server, tmp_path):
    url = serve(server, "blob.bin")
    server.cut_after = 50_000
    with pytest.raises(DownloadError, match="50000 of 200000 bytes"):
        download(url, tmp_path / "blob.bin")
    assert (tmp_path / "blob.bin.part").read_bytes() == PAYLOAD[:50_000]
    server.cut_after = None
    download(url, tmp_path / "blob.bin")
    assert server.range_headers == [None, "bytes=50000-"]
    assert (tmp_path / "blob.bin").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    url = serve(server, "blob.bin")
    server.honour_range = False
    (tmp_path / "blob.bin.part").write_bytes(b"stale bytes that must not survive")
    download(url, tmp_path / "blob.bin")
    assert server.range_headers == ["bytes=33-"]
    assert (tmp_path / "blob.bin").read_bytes() == PAYLOAD


def test_http_error_names_url_and_status(server, tmp_path):
    with pytest.raises(DownloadError, match=r"missing\.bin: the server answered HTTP 404"):
        download(f"{server.url}/missing.bin", tmp_path / "missing.bin")


def test_connection_refused_raises_download_error(closed_port_url, tmp_path):
    with pytest.raises(DownloadError) as info:
        download(closed_port_url, tmp_path / "x.pth", timeout=5)
    assert closed_port_url in str(info.value)
    assert "refused" in str(info.value).lower()


def test_sha256_helpers(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD)
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    assert sha256_of(path, chunk=4096) == digest
    check_hash_prefix(path, digest[:8].upper())
    assert not digest.startswith("ffffffff")
    with pytest.raises(WeightsError, match=rf"{path}.*{digest[:8]}, expected ffffffff; delete it"):
        check_hash_prefix(path, "ffffffff")


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("alexnet-owt-7be5be79.pth", "7be5be79"),
        ("x-deadbeef.pth", "deadbeef"),
        ("model.pth", None),
        ("a-beef.pth", None),
    ],
)
def test_expected_hash_prefix(name, prefix):
    assert expected_hash_prefix(Path(name)) == prefix


@pytest.fixture
def hub_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def test_resolve_explicit_path(tmp_path, hub_dir, closed_port_url):
    path = tmp_path / "mine.pth"
    path.write_bytes(b"x")
    assert resolve_weights(closed_port_url, path) == path
    assert resolve_weights(closed_port_url, str(path)) == path
    with pytest.raises(WeightsError, match="does not exist"):
        resolve_weights(closed_port_url, tmp_path / "absent.pth")


def test_resolve_finds_the_hub_cache(hub_dir, closed_port_url):
    hub_dir.mkdir(parents=True)
    (hub_dir / "alexnet-owt-7be5be79.pth").write_bytes(b"x")
    assert resolve_weights(closed_port_url) == hub_dir / "alexnet-owt-7be5be79.pth"


def test_resolve_downloads_into_the_hub_cache_and_checks_the_name_hash(server, hub_dir):
    data = _saved({"w": torch.ones(3)})
    name = f"tiny-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    path = resolve_weights(serve(server, name, data))
    assert path == hub_dir / name
    assert torch.equal(load_state_dict(path)["w"], torch.ones(3))
    with pytest.raises(WeightsError, match="corrupt"):
        resolve_weights(serve(server, "tiny-00000000.pth", data))


def test_resolve_offline_explains_what_to_do(hub_dir, closed_port_url):
    with pytest.raises(WeightsError) as info:
        resolve_weights(closed_port_url, offline_hint="`--model digits` works offline.")
    message = str(info.value)
    assert closed_port_url in message
    assert str(hub_dir / "alexnet-owt-7be5be79.pth") in message
    assert "--weights PATH" in message
    assert message.endswith("`--model digits` works offline.")
    assert "\n" not in message


def test_resolve_without_downloads(hub_dir, server):
    with pytest.raises(WeightsError, match="downloads are turned off"):
        resolve_weights(serve(server, "blob.bin"), download_ok=False)
    assert server.range_headers == []


def test_load_state_dict_plain_and_checkpoint(tmp_path):
    state = {"w": torch.arange(4.0)}
    (tmp_path / "plain.pth").write_bytes(_saved(state))
    (tmp_path / "ckpt.pth").write_bytes(_saved({"epoch": 3, "model": state}))
    for name in ("plain.pth", "ckpt.pth"):
        assert torch.equal(load_state_dict(tmp_path / name)["w"], state["w"])


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a torch file" * 10,
        _saved({"w": torch.zeros(1000)})[:3000],
        _saved([1, 2]),
        _saved(nn.Linear(2, 2)),
    ],
    ids=["garbage", "truncated", "not-a-dict", "pickled-module"],
)
def test_load_state_dict_rejects_unreadable_files(tmp_path, content):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=re.escape(str(path))):
        load_state_dict(path)


def test_load_state_dict_checks_the_hash_in_the_name(tmp_path):
    path = tmp_path / "x-deadbeef.pth"
    path.write_bytes(_saved({"w": torch.zeros(2)}))
    assert not sha256_of(path).startswith("deadbeef")
    with pytest.raises(WeightsError, match=r"x-deadbeef\.pth.*deadbeef.*rename"):
        load_state_dict(path)
    assert set(load_state_dict(path, check_hash=False)) == {"w"}


def test_load_into_explains_a_wrong_architecture():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    wrong = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Linear(8, 4)).state_dict()
    wrong["extra.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError) as info:
        load_into(model, wrong, "wrong.pth")
    message = str(info.value)
    assert message.startswith("wrong.pth does not fit Sequential:")
    assert "unexpected keys [extra.weight]" in message
    assert "shape mismatch 0.weight: file (8, 1, 3, 3) vs model (8, 3, 3, 3)" in message
    assert "2.weight" in message


def test_load_into_loads_a_fitting_state_dict():
    model, source = nn.Linear(2, 3), nn.Linear(2, 3)
    load_into(model, source.state_dict(), "same.pth")
    assert torch.equal(model.weight, source.weight)
