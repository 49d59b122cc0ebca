"""Serve the dashboard with the standard library's HTTP server, safe on a machine that also browses
the web: a fixed pool of worker threads (excess connections get a quick 503), read deadlines, a
Host check against DNS rebinding, and no state-changing request from another origin (CSRF).

A page on another site, or on another port of this machine, can make the browser send requests
here but cannot read the answers. So every request must name this server in ``Host``; every
``/api/`` request from a browser must come from the dashboard's own origin (``Origin`` and
``Sec-Fetch-Site``); JSON requests must say ``Content-Type: application/json`` and uploads must
carry the ``X-Recollection-Upload`` header, which a cross-origin page can only send after a CORS
preflight that this server never grants.
"""

from __future__ import annotations

import io
import queue
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from .app import Dashboard, Response
from .inputs import MAX_UPLOAD_BYTES

WORKERS = 8  # requests served at once
WAITING = 32  # accepted connections waiting for a worker; more are answered 503 at once
READ_TIMEOUT_S = 10.0  # the longest wait for the client's next bytes
REQUEST_DEADLINE_S = 60.0  # the longest a client may take to send a whole request (headers and body)
UPLOAD_HEADER = "X-Recollection-Upload"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}
Request = socket.socket | tuple[bytes, socket.socket]  # socketserver's request (a TCP server's: its socket)


class Headers(Protocol):
    """A request's headers as the gate reads them (``http.server``'s message, or a dict in tests)."""

    def get(self, name: str, /) -> str | None: ...


# --- who may talk to the server ---------------------------------------------------------------------
def host_name(value: str) -> str | None:
    """The host of a ``Host`` header or an origin's netloc, lower case, IPv6 without brackets."""
    try:
        name = urlsplit("//" + value.strip()).hostname
    except ValueError:
        return None
    return name.rstrip(".") if name else None


def is_ip_literal(name: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in name else socket.AF_INET, name)
        return True
    except OSError:
        return False


class Gate:
    """Decides, from the request line and headers alone, whether a request may reach the dashboard."""

    def __init__(self, bound_host: str, extra_hosts: tuple[str, ...] = ()) -> None:
        self.wildcard = bound_host in WILDCARDS
        names = {*LOOPBACK_NAMES, *(h.lower() for h in extra_hosts)}
        if not self.wildcard:
            names.add(host_name(bound_host) or bound_host.lower())
        else:  # listening on every interface: this machine's own names (IP literals are accepted below)
            names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        self.names = frozenset(names)

    def host_allowed(self, name: str | None) -> bool:
        """DNS rebinding needs a name the attacker controls: accept ours, loopback, and for a wildcard
        bind any IP literal (which no DNS answer can point elsewhere)."""
        if not name:
            return False
        return name in self.names or name.endswith(".localhost") or (self.wildcard and is_ip_literal(name))

    def refusal(self, method: str, path: str, headers: Headers) -> str | None:
        """Why the request is refused (HTTP 403), or None when it may proceed."""
        host = headers.get("Host")
        if host is None:
            return "the request has no Host header"
        if not self.host_allowed(host_name(host)):
            return (f"this dashboard answers only to its own address, not to Host {host[:100]!r} "
                    "(a web page may be trying to reach it through DNS rebinding)")
        if not path.startswith("/api/"):
            return None  # the page and its files: reading them changes nothing
        origin = headers.get("Origin")
        if origin is not None and (origin == "null" or not _same_origin(origin, host)):
            return f"requests from another origin ({origin[:100]}) are not accepted"
        site = headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            return f"requests from another site (Sec-Fetch-Site: {site[:30]}) are not accepted"
        if method == "POST" and path == "/api/upload":
            if headers.get(UPLOAD_HEADER) != "1":
                return f"uploads must carry the {UPLOAD_HEADER} header (the dashboard's page sends it)"
        elif method == "POST":
            media = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if media != "application/json":
                return f"send JSON with Content-Type: application/json, not {media or 'no content type'!r}"
        return None


def _same_origin(origin: str, host: str) -> bool:
    parts = urlsplit(origin)
    if parts.scheme != "http" or parts.path not in ("", "/"):
        return False
    try:
        origin_port, host_port = parts.port or 80, urlsplit("//" + host.strip()).port or 80
    except ValueError:
        return False
    return host_name(parts.netloc) == host_name(host) and origin_port == host_port


# --- reading a request within a deadline ------------------------------------------------------------
class DeadlineReader(io.BufferedIOBase):
    """The connection's input with a deadline on the whole request, not only on each read, so a
    client that trickles bytes cannot hold a worker for longer than REQUEST_DEADLINE_S."""

    def __init__(self, raw: io.BufferedIOBase, sock: socket.socket) -> None:
        super().__init__()
        self.raw, self.sock = raw, sock
        self.deadline = time.monotonic() + REQUEST_DEADLINE_S

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the client took too long to send its request")
        self.sock.settimeout(min(READ_TIMEOUT_S, left))

    def readline(self, limit: int | None = -1, /) -> bytes:
        self._arm()
        return self.raw.readline(limit)

    def read(self, size: int | None = -1, /) -> bytes:
        """Up to ``size`` bytes (the request body's length; nothing when no size is given)."""
        chunks, left = [], -1 if size is None else size
        while left > 0:
            self._arm()
            chunk = self.raw.read(min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.raw.close()
        super().close()


def make_handler(dashboard: Dashboard, quiet: bool = True, gate: Gate | None = None) -> type[BaseHTTPRequestHandler]:
    checks = gate or Gate("127.0.0.1")

    class Handler(BaseHTTPRequestHandler):
        server_version = "recollection-dashboard"
        sys_version = ""  # the Server header need not name the Python version
        default_request_version = "HTTP/1.0"  # answers to unparsable request lines get headers too (0.9 has none)
        timeout = READ_TIMEOUT_S

        def setup(self) -> None:
            super().setup()
            self.rfile = DeadlineReader(self.rfile, self.connection)

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            for key, value in {**SECURITY_HEADERS, **response.headers}.items():
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """The server's own errors (400, 414, 431, 501, ...) as JSON, with the security headers."""
            self.close_connection = True
            short = self.responses.get(code, ("error", ""))[0]
            self.log_error("code %d, message %s", code, message or short)
            self._send(Response.error(f"{short}: {message}" if message and message != short else short, code))

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            refused = checks.refusal(method, url.path, self.headers)
            if refused:
                self.close_connection = True  # any body stays unread
                return self._send(Response.error(refused, 403))
            body = self._body() if method == "POST" else b""
            if body is None:  # refused (answered already)
                return
            self.connection.settimeout(READ_TIMEOUT_S)  # the request is in: no deadline on the answer
            self._send(dashboard.handle(method, url.path, url.query, body, self.headers.get("Content-Type", "")))

        def _body(self) -> bytes | None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self.close_connection = True
                self._send(Response.error("bad Content-Length", 400))
                return None
            if length > MAX_UPLOAD_BYTES:
                self.close_connection = True  # do not read an oversized body
                self._send(Response.error(f"the file is {length / 2**20:.1f} MB; uploads are limited to "
                                          f"{MAX_UPLOAD_BYTES // 2**20} MB", 413))
                return None
            body = self.rfile.read(length)
            if len(body) != length:
                self.close_connection = True
                self._send(Response.error(f"the request body ended after {len(body)} of {length} bytes", 400))
                return None
            return body

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._dispatch("GET")

        def do_HEAD(self) -> None:  # noqa: N802
            self._dispatch("GET")  # _send leaves the body out

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            if not quiet:
                super().log_message(format, *args)

    return Handler


# --- the server: a fixed pool of workers ---------------------------------------------------------------
class DashboardServer(HTTPServer):
    """An HTTPServer whose requests are served by WORKERS daemon threads; connections beyond WAITING
    queued ones are answered 503 at once instead of each getting a thread."""

    daemon_threads = True  # kept for callers that set it; the workers are daemon threads anyway
    request_queue_size = 64  # the kernel's backlog: a burst is accepted at once, then queued or answered 503

    def __init__(self, address: tuple[str, int] | tuple[str, int, int, int], handler: type[BaseHTTPRequestHandler],
                 workers: int = WORKERS, waiting: int = WAITING) -> None:
        self._waiting: queue.Queue = queue.Queue(maxsize=waiting)
        self._workers = [threading.Thread(target=self._work, name=f"dashboard-{i}", daemon=True) for i in range(workers)]
        super().__init__(address, handler)
        for thread in self._workers:
            thread.start()

    def process_request(self, request: Request, client_address: Any) -> None:
        try:
            self._waiting.put_nowait((request, client_address))
        except queue.Full:
            if isinstance(request, socket.socket):  # always, on a TCP server
                self._busy(request)
            self.shutdown_request(request)

    def _work(self) -> None:
        while True:
            item = self._waiting.get()
            if item is None:
                return
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    @staticmethod
    def _busy(request: socket.socket) -> None:
        body = b'{"error": "the dashboard is busy; try again in a moment"}'
        head = ["HTTP/1.0 503 Service Unavailable", "Content-Type: application/json",
                f"Content-Length: {len(body)}", "Retry-After: 2", "Connection: close",
                *(f"{k}: {v}" for k, v in SECURITY_HEADERS.items())]
        try:
            request.settimeout(1.0)
            request.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        except OSError:
            pass

    def handle_error(self, request: Request, client_address: Any) -> None:
        """One line, not a traceback: a client that went away is not the server's problem."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        print(f"dashboard: error serving {client_address[0]}: {type(error).__name__}: {error}", file=sys.stderr)

    def server_close(self) -> None:
        super().server_close()
        while True:  # close what still waits, then stop the workers
            try:
                item = self._waiting.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self.shutdown_request(item[0])
        for _ in self._workers:
            try:
                self._waiting.put_nowait(None)
            except queue.Full:
                break


def make_server(host: str = "127.0.0.1", port: int = 8765, dashboard: Dashboard | None = None,
                quiet: bool = True, allowed_hosts: tuple[str, ...] = ()) -> DashboardServer:
    """A server bound to ``host`` (an IPv4 or IPv6 address or a name); raises OSError when it cannot listen."""
    found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = sorted(found, key=lambda info: info[0] != socket.AF_INET)[0]  # IPv4 first
    server_class = type("DashboardServer", (DashboardServer,), {"address_family": family})
    return server_class(address[:2] if family == socket.AF_INET else address,
                        make_handler(dashboard or Dashboard(), quiet, Gate(host, allowed_hosts)))


def url_of(server: HTTPServer) -> str:
    """The server's address as a URL (IPv6 in brackets)."""
    host, port = server.server_address[:2]
    if isinstance(host, (bytes, bytearray)):
        host = host.decode()
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve_in_background(server: HTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
