"""A local stand-in for the GitLab REST API v4, for the endpoints dtf uses.

It answers with the shapes of GitLab's own API documentation (example bodies copied into
``tests/data/gitlab/``, see SOURCE.md there): offset-paginated runner lists with ``Link`` and
``X-*`` headers, runner details with ``tag_list``, merge request notes, commit statuses with
GitLab's transition rules, and GitLab's error bodies. It records every request, knows which
tokens may do what, and can be scripted to fail (a 502 once, a 429 with ``Retry-After``, a
400), so the provider is tested through python-gitlab's real HTTP code.

Standard library only (``http.server`` in a thread).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

DATA = Path(__file__).resolve().parent.parent / "data" / "gitlab"
STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
ROLES = {"reporter": 20, "developer": 30, "maintainer": 40}
RATE_LIMITED = "This endpoint has been requested too many times. Try again later."


def fixture(name: str) -> Any:
    """One example response body from tests/data/gitlab/."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str  # decoded
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int = 0

    @property
    def token(self) -> str:
        return self.headers.get("private-token", "")


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    after_effect: bool  # do the work first (the request "landed"), then answer with the failure


@dataclass
class _State:
    runners: dict[int, dict] = field(default_factory=dict)  # id -> details
    project_runners: list[int] = field(default_factory=list)
    group_runners: list[int] = field(default_factory=list)
    hidden_details: set[int] = field(default_factory=set)  # GET /runners/:id answers 403
    notes: dict[int, list[dict]] = field(default_factory=dict)  # MR iid -> notes, oldest first
    statuses: dict[str, list[dict]] = field(default_factory=dict)  # sha -> statuses, newest first


class GitLabServer:
    """``with GitLabServer() as gl: env CI_API_V4_URL=gl.api_url``."""

    def __init__(self, project: str = "octo-group/octo-project", project_id: int = 42,
                 group: str = "octo-group", group_id: int = 7) -> None:
        self.project, self.project_id = project, project_id
        self.group, self.group_id = group, group_id
        self.state = _State()
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        self.tokens: dict[str, str] | None = None  # token -> role; None: any token is maintainer
        self._lock = threading.RLock()
        self._ids = 1000
        self._httpd: ThreadingHTTPServer | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> GitLabServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> GitLabServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v4"

    # --- scripting ------------------------------------------------------------------------

    def fail(self, method: str, path: str, status: int, *, body: Any = None,
             headers: dict[str, str] | None = None, times: int = 1,
             after_effect: bool = False) -> None:
        """Answer the next ``times`` requests matching ``method`` and the ``path`` regex
        (on the decoded path) with ``status``; with ``after_effect`` the request lands first."""
        if body is None:
            body = {"message": {500: "500 Internal Server Error", 502: "502 Bad Gateway",
                                503: "503 Service Unavailable"}.get(status, f"{status} Error")}
        self.failures.append(Failure(method.upper(), re.compile(path), status, body,
                                     dict(headers or {}), times, after_effect))

    def rate_limit(self, method: str, path: str, retry_after: int | None = None,
                   reset_at: int | None = None) -> None:
        headers = {"RateLimit-Limit": "600", "RateLimit-Observed": "601", "RateLimit-Remaining": "0"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if reset_at is not None:
            headers["RateLimit-Reset"] = str(reset_at)
        self.fail(method, path, 429, body={"message": RATE_LIMITED}, headers=headers)

    def add_runner(self, description: str, tags: list[str], *, online: bool = True,
                   paused: bool = False, runner_type: str = "project_type",
                   group: bool = False, busy: bool = False, platform: str = "linux") -> dict:
        runner = copy.deepcopy(fixture("runner-details.json"))
        rid = self._next_id()
        runner.update(id=rid, description=description, tag_list=list(tags), online=online,
                      status="online" if online else "offline", paused=paused, active=not paused,
                      runner_type=runner_type, is_shared=runner_type == "instance_type",
                      platform=platform, job_execution_status="active" if busy else "idle")
        with self._lock:
            self.state.runners[rid] = runner
            (self.state.group_runners if group else self.state.project_runners).append(rid)
        return runner

    def add_note(self, iid: int, body: str, *, username: str = "someone",
                 system: bool = False) -> dict:
        with self._lock:
            return self._create_note(iid, body, username, system)

    def notes(self, iid: int) -> list[dict]:
        with self._lock:
            return list(self.state.notes.get(iid, []))

    def statuses(self, sha: str) -> list[dict]:
        with self._lock:
            return list(self.state.statuses.get(sha, []))

    def requests_to(self, method: str, pattern: str) -> list[Recorded]:
        rx = re.compile(pattern)
        return [r for r in self.requests if r.method == method.upper() and rx.search(r.path)]

    # --- state changes --------------------------------------------------------------------

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    @staticmethod
    def _now() -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())

    def _create_note(self, iid: int, body: str, username: str, system: bool = False) -> dict:
        note = fixture("merge-request-note.json")
        note.update(id=self._next_id(), body=body, system=system, noteable_iid=iid,
                    project_id=self.project_id, created_at=self._now(), updated_at=self._now())
        note["author"]["username"] = username
        self.state.notes.setdefault(iid, []).append(note)
        return note


def _error(status: int, message: Any) -> tuple[int, Any, dict]:
    return status, {"message": message}, {}


class _Handler(BaseHTTPRequestHandler):
    owner: GitLabServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    # --- plumbing -------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        gl = self.owner
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        query = parse_qs(parts.query)
        if method != "GET" and not body:  # python-gitlab may send attributes in the query
            body = {k: v[0] for k, v in query.items()}
        rec = Recorded(method, unquote(parts.path), query,
                       {k.lower(): v for k, v in self.headers.items()}, body)
        with gl._lock:
            gl.requests.append(rec)
            failure = next((f for f in gl.failures if f.method == method
                            and f.path.search(rec.path) and f.times > 0), None)
            if failure is not None:
                failure.times -= 1
        if failure is not None and not failure.after_effect:
            self._send(rec, failure.status, failure.body, failure.headers)
            return
        status, payload, headers = self._route(method, parts.path, rec)
        if failure is not None:
            status, payload, headers = failure.status, failure.body, failure.headers
        self._send(rec, status, payload, headers)

    def _send(self, rec: Recorded, status: int, payload: Any, headers: dict[str, str]) -> None:
        rec.status = status
        data = payload if isinstance(payload, bytes) else b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _role(self, rec: Recorded) -> int | None:
        tokens = self.owner.tokens
        if not rec.token:
            return None
        if tokens is None:
            return ROLES["maintainer"]
        role = tokens.get(rec.token)
        return ROLES.get(role) if role else None

    def _route(self, method: str, raw_path: str, rec: Recorded) -> tuple[int, Any, dict]:
        gl = self.owner
        role = self._role(rec)
        if role is None:
            return _error(401, "401 Unauthorized")
        m = re.match(r"^/api/v4/(projects|groups)/([^/]+)(/.*)?$", raw_path)
        if m:
            kind, ident, rest = m.group(1), unquote(m.group(2)), m.group(3) or ""
            known = ((gl.project, str(gl.project_id)) if kind == "projects"
                     else (gl.group, str(gl.group_id)))
            if ident not in known:
                return _error(404, f"404 {kind[:-1].title()} Not Found")
            return self._scoped(method, kind, rest, rec, role)
        if raw_path == "/api/v4/user" and method == "GET":
            return self._user()
        m = re.match(r"^/api/v4/runners/(\d+)$", raw_path)
        if m and method == "GET":
            runner = gl.state.runners.get(int(m.group(1)))
            if runner is None:
                return _error(404, "404 Runner Not Found")
            shared = runner["runner_type"] == "instance_type"
            if runner["id"] in gl.state.hidden_details or (not shared and role < ROLES["maintainer"]):
                return _error(403, "403 Forbidden")
            return 200, runner, {}
        return _error(404, "404 Not Found")

    def _user(self) -> tuple[int, Any, dict]:
        return 200, {"id": 9042, "username": "project_42_bot", "name": "dtf bot", "state": "active",
                     "bot": True}, {}

    def _scoped(self, method: str, kind: str, rest: str, rec: Recorded,
                role: int) -> tuple[int, Any, dict]:
        gl = self.owner
        with gl._lock:
            if rest == "/runners" and method == "GET":
                if role < ROLES["maintainer"]:
                    return _error(403, "403 Forbidden")
                ids = gl.state.project_runners if kind == "projects" else gl.state.group_runners
                return self._page(rec, [self._listed(gl.state.runners[i]) for i in ids])
            m = re.match(r"^/merge_requests/(\d+)/notes(?:/(\d+))?$", rest)
            if m and kind == "projects":
                return self._notes(method, int(m.group(1)), m.group(2), rec, role)
            m = re.match(r"^/statuses/([0-9a-f]{7,40})$", rest)
            if m and method == "POST" and kind == "projects":
                if role < ROLES["developer"]:
                    return _error(403, "403 Forbidden")
                return self._post_status(m.group(1), rec.body)
            m = re.match(r"^/repository/commits/([0-9a-f]{7,40})/statuses$", rest)
            if m and method == "GET" and kind == "projects":
                return self._list_statuses(m.group(1), rec)
        return _error(404, "404 Not Found")

    @staticmethod
    def _listed(runner: dict) -> dict:
        keys = fixture("runners-list.json")[0].keys()
        return {k: runner.get(k) for k in keys} | {"job_execution_status": runner.get(
            "job_execution_status")}

    def _page(self, rec: Recorded, items: list[Any]) -> tuple[int, Any, dict]:
        per_page = max(1, min(100, int(rec.query.get("per_page", ["20"])[0])))
        page = max(1, int(rec.query.get("page", ["1"])[0]))
        pages = max(1, -(-len(items) // per_page))
        base = f"{self.owner.url}{urlsplit(self.path).path}"

        def link(p: int) -> str:
            query = {k: v[0] for k, v in rec.query.items()} | {"page": str(p),
                                                               "per_page": str(per_page)}
            return f"{base}?{urlencode(query)}"

        rels = [f'<{link(1)}>; rel="first"', f'<{link(pages)}>; rel="last"']
        if page > 1:
            rels.insert(0, f'<{link(page - 1)}>; rel="prev"')
        if page < pages:
            rels.insert(0, f'<{link(page + 1)}>; rel="next"')
        headers = {"Link": ", ".join(rels), "X-Page": str(page), "X-Per-Page": str(per_page),
                   "X-Next-Page": str(page + 1) if page < pages else "",
                   "X-Prev-Page": str(page - 1) if page > 1 else "",
                   "X-Total": str(len(items)), "X-Total-Pages": str(pages)}
        return 200, items[(page - 1) * per_page: page * per_page], headers

    # --- endpoints ------------------------------------------------------------------------

    def _notes(self, method: str, iid: int, note_id: str | None, rec: Recorded,
               role: int) -> tuple[int, Any, dict]:
        gl = self.owner
        notes = gl.state.notes.setdefault(iid, [])
        if method == "GET" and note_id is None:
            key = rec.query.get("order_by", ["created_at"])[0]
            ordered = sorted(notes, key=lambda n: (n[key], n["id"]),
                             reverse=rec.query.get("sort", ["desc"])[0] == "desc")
            return self._page(rec, ordered)
        body = rec.body.get("body") if isinstance(rec.body, dict) else None
        if not body:
            return 400, {"error": "body is missing"}, {}
        if len(body) > 1_000_000:
            return _error(400, {"note": ["is too long (maximum is 1000000 characters)"]})
        if method == "POST" and note_id is None:
            return 201, gl._create_note(iid, body, "project_42_bot"), {}
        if method == "PUT" and note_id is not None:
            for note in notes:
                if note["id"] == int(note_id):
                    note.update(body=body, updated_at=gl._now())
                    return 200, note, {}
            return _error(404, "404 Note Not Found")
        return _error(404, "404 Not Found")

    def _post_status(self, sha: str, data: dict) -> tuple[int, Any, dict]:
        gl = self.owner
        state = data.get("state")
        if state not in STATES:
            return 400, {"error": "state does not have a valid value"}, {}
        for key in ("description", "target_url", "ref"):
            if len(str(data.get(key) or "")) > 255:
                return _error(400, {key: ["is too long (maximum is 255 characters)"]})
        url = data.get("target_url")
        if url and not re.match(r"^https?://\S+$", str(url)):
            return _error(400, {"target_url": ["must be a valid URL"]})
        name = data.get("name") or data.get("context") or "default"
        statuses = gl.state.statuses.setdefault(sha, [])
        live = next((s for s in statuses if s["name"] == name
                     and s["status"] in ("pending", "running")), None)
        if live is not None and live["status"] == state:
            event = {"pending": "enqueue", "running": "run"}[state]
            return _error(400, f"Cannot transition status via :{event} from :{state} "
                               f"(Reason(s): Status cannot transition via \"{event}\")")
        status = live if live is not None else fixture("commit-status.json")
        if live is None:
            status.update(id=gl._next_id(), created_at=gl._now())
            statuses.insert(0, status)
        status.update(name=name, sha=sha, status=state, description=data.get("description"),
                      target_url=data.get("target_url"), ref=data.get("ref"),
                      pipeline_id=data.get("pipeline_id"))
        return 201, status, {}

    def _list_statuses(self, sha: str, rec: Recorded) -> tuple[int, Any, dict]:
        statuses = self.owner.state.statuses.get(sha, [])
        name = rec.query.get("name", [None])[0]
        chosen = [s for s in statuses if name is None or s["name"] == name]
        if rec.query.get("all", ["false"])[0] != "true":  # only the latest of each name
            seen: set[str] = set()
            chosen = [s for s in chosen if not (s["name"] in seen or seen.add(s["name"]))]
        return self._page(rec, chosen)
