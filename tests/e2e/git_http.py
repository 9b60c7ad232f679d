"""A git server over smart HTTP on 127.0.0.1, as GitHub serves repositories to a checkout.

The reusable workflow checks the action out from ``<server url>/<owner>/<repo>`` at its own
commit with actions/checkout, which runs ``git fetch`` against that URL with the job's token
in an ``AUTHORIZATION: basic`` header. Offline, this server stands in for github.com: it
runs git's own ``git http-backend`` (the CGI program git ships for exactly this) for each
request, serves the bare repositories under one folder read-only (upload-pack only, as for a
reader of a GitHub repository), answers 401 to a request without the token where one is
required (a private repository), and records every request so a test can show the fetch
happened. Standard library only.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass
class GitRequest:
    """One request as the server saw it: what was asked, with which credentials."""

    method: str
    path: str
    query: str
    user: str
    password: str
    status: int


class GitHTTPServer:
    """Serves the bare repositories under ``root`` (``root/owner/repo``) over smart HTTP.

    ``token``: when set, every request must carry it as the basic-auth password (any user
    name, as GitHub takes ``x-access-token:<token>``); others get 401 like a private
    repository asked without credentials.
    """

    def __init__(self, root: Path, token: str | None = None) -> None:
        self.root = root
        self.token = token
        self.requests: list[GitRequest] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        git = shutil.which("git")
        if git is None:
            raise RuntimeError("git is not installed")
        self.git = git

    def __enter__(self) -> GitHTTPServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def fetches(self, repo: str) -> list[GitRequest]:
        """The successful upload-pack requests (the fetches proper) for ``owner/repo``."""
        with self._lock:
            return [r for r in self.requests if r.path == f"/{repo}/git-upload-pack"
                    and r.method == "POST" and r.status == 200]

    def _record(self, request: GitRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _Handler(BaseHTTPRequestHandler):
    owner: GitHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _credentials(self) -> tuple[str, str]:
        kind, _, value = self.headers.get("Authorization", "").partition(" ")
        if kind.lower() != "basic":
            return "", ""
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", ""
        return user, password

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        user, password = self._credentials()
        body = self._body() if method == "POST" else b""
        service = url.path.rsplit("/", 1)[-1] == "git-receive-pack" or "git-receive-pack" in url.query
        if self.owner.token is not None and password != self.owner.token:
            status, headers, payload = 401, [("WWW-Authenticate", 'Basic realm="GitHub"')], b""
        elif service:  # read-only, as for a reader of the repository
            status, headers, payload = 403, [], b"pushing is not served here\n"
        else:
            status, headers, payload = self._backend(method, url.path, url.query, user, body)
        self.owner._record(GitRequest(method, url.path, url.query, user, password, status))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _backend(self, method: str, path: str, query: str, user: str,
                 body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        env = {
            "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"),
            "GIT_PROJECT_ROOT": str(self.owner.root), "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": user, "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        proc = subprocess.run([self.owner.git, "http-backend"], input=body, env=env,
                              capture_output=True, timeout=120, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = proc.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        if proc.returncode != 0 and status == 200:
            status, headers, payload = 500, [], proc.stderr
        return status, headers, payload
