"""``tconv explore``: a local web server (127.0.0.1) for the explorer page and its JSON.

Routes: ``/`` (the page), ``/static/<file>`` (its script and style, from the package), ``/api/model?...``
(:func:`tconv.tools.explore.api.model_json`) and ``/gif?...`` (the GIF ``tconv animate`` writes). Bad
requests get a JSON error and status 400; nothing a request holds can stop the server.
"""

from __future__ import annotations

import json
import sys
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from .api import error_json, gif_bytes, model_json

__all__ = ["ExplorerServer", "make_server", "serve"]

STATIC = {"index.html": "text/html; charset=utf-8", "explore.js": "text/javascript; charset=utf-8",
          "explore.css": "text/css; charset=utf-8"}


def _static(name: str) -> bytes:
    return resources.files("tconv.tools.explore").joinpath("static", name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server_version = "tconv-explore"

    def log_message(self, format, *args):  # noqa: A002 - quiet: the terminal shows only the address
        pass

    def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: dict) -> None:
        self._send(status, json.dumps(obj, allow_nan=False).encode(), "application/json")

    def do_GET(self) -> None:  # noqa: N802
        try:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            path = url.path
            if path in ("/", "/index.html"):
                self._send(200, _static("index.html"), STATIC["index.html"])
            elif path.startswith("/static/") and path[8:] in STATIC:
                self._send(200, _static(path[8:]), STATIC[path[8:]])
            elif path == "/api/model":
                answer = model_json(query)
                self._json(400 if "error" in answer else 200, answer)
            elif path == "/gif":
                try:
                    data = gif_bytes(query)
                except Exception as exc:
                    self._json(400, error_json(exc))
                    return
                self._send(200, data, "image/gif",
                           {"Content-Disposition": 'attachment; filename="tconv-animation.gif"'})
            else:
                self._json(404, {"error": f"no such page: {path}", "param": None})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # never let a request take the server down
            try:
                self._json(500, error_json(exc))
            except OSError:
                pass


class ExplorerServer(ThreadingHTTPServer):
    daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def make_server(port: int = 0) -> ExplorerServer:
    """The explorer's server on 127.0.0.1 (``port=0``: a free port), not yet serving."""
    if not 0 <= int(port) <= 65535:
        from ...errors import TconvError

        raise TconvError(f"port={port} must be between 0 and 65535 (0: a free port)")
    return ExplorerServer(("127.0.0.1", int(port)), _Handler)


def serve(port: int = 0, open_browser: bool = True) -> int:
    """Serve until Ctrl-C; prints the address and opens the default browser unless told not to."""
    server = make_server(port)
    print(f"tconv explore: serving on {server.url}  (Ctrl-C stops it)", flush=True)
    if open_browser:
        threading.Timer(0.3, webbrowser.open, args=(server.url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("tconv explore: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
