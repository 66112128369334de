"""A local stand-in for the Hugging Face Hub's file API, so a test can fetch a model by hub id without the network.

It answers the three calls ``huggingface_hub.snapshot_download`` makes for a public model repo: the repo
info (``/api/models/{repo}/revision/{rev}``), the file tree (``/api/models/{repo}/tree/{rev}``) and each
file (``/{repo}/resolve/{rev}/{path}``), serving the files of a local folder per repo id.
"""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _handler(repos: dict[str, Path], log: list[str]):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest's output clean
            pass

        def do_GET(self) -> None:
            self._answer(head=False)

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def _answer(self, head: bool) -> None:
            path = unquote(self.path.split("?")[0]).lstrip("/")
            log.append(path)
            for repo, folder in repos.items():
                files = sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file())
                if path.startswith(f"api/models/{repo}/tree/"):
                    tree = [{"type": "file", "path": f, "size": (folder / f).stat().st_size,
                             "oid": hashlib.sha1((folder / f).read_bytes()).hexdigest()} for f in files]
                    return self._send(200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, head)
                if path.startswith(f"api/models/{repo}"):
                    info = {"id": repo, "sha": COMMIT, "siblings": [{"rfilename": f} for f in files]}
                    return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, head)
                if path.startswith(f"{repo}/resolve/"):
                    name = path[len(repo) + len("/resolve/"):].split("/", 1)[-1]
                    if name not in files:
                        return self._send(404, b"", {"X-Error-Code": "EntryNotFound"}, head)
                    data = (folder / name).read_bytes()
                    etag = '"' + hashlib.sha1(data).hexdigest() + '"'
                    return self._send(200, data, {"X-Repo-Commit": COMMIT, "ETag": etag}, head)
            self._send(404, b"", {"X-Error-Code": "RepoNotFound"}, head)

        def _send(self, code: int, body: bytes, headers: dict[str, str], head: bool) -> None:
            self.send_response(code)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

    return Handler


@contextmanager
def serve_hub(repos: dict[str, Path]) -> Iterator[tuple[str, list[str]]]:
    """(endpoint URL, the request paths it received) while serving ``repos`` (repo id -> folder) on 127.0.0.1."""
    log: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler({r: Path(f) for r, f in repos.items()}, log))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
