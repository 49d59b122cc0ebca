"""Serve the dashboard with the standard library's threaded HTTP server (one thread per request)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .app import MAX_UPLOAD_BYTES, Dashboard, Response

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'",
}


def make_handler(dashboard: Dashboard, quiet: bool = True):
    class Handler(BaseHTTPRequestHandler):
        server_version = "recollection-dashboard"

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            for key, value in {**SECURITY_HEADERS, **response.headers}.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            body = b""
            if method == "POST":
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0:
                    return self._send(Response.error("bad Content-Length", 400))
                if length > MAX_UPLOAD_BYTES:
                    self.close_connection = True  # do not read an oversized body
                    return self._send(Response.error(
                        f"the file is {length / 2**20:.1f} MB; uploads are limited to {MAX_UPLOAD_BYTES // 2**20} MB", 413))
                body = self.rfile.read(length)
            self._send(dashboard.handle(method, url.path, url.query, body, self.headers.get("Content-Type", "")))

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            if not quiet:
                super().log_message(format, *args)

    return Handler


def make_server(host: str = "127.0.0.1", port: int = 8765, dashboard: Dashboard | None = None,
                quiet: bool = True) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(dashboard or Dashboard(), quiet))
    server.daemon_threads = True
    return server


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
