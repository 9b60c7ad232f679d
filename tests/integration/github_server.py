"""A local stand-in for the GitHub REST API, for the endpoints dtf uses.

It answers with the shapes of GitHub's own OpenAPI description (example bodies copied into
``tests/data/github/``, see SOURCE.md there): paginated runner lists with ``Link`` headers,
issue comments, commit statuses, GitHub's error bodies and rate-limit headers. It records
every request, knows which tokens may do what, and can be scripted to fail (a 502 once, a
403 secondary rate limit with ``Retry-After``, a 422), so the provider is tested through
PyGithub's real HTTP code and not through mocks of dtf's own functions.

Standard library only (``http.server`` in a thread), so the tests need nothing beyond
dtf's own dependencies.
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
from urllib.parse import parse_qs, urlencode, urlsplit

DATA = Path(__file__).resolve().parent.parent / "data" / "github"
DOCS = "https://docs.github.com/rest"
READ_ONLY_LABELS = {"self-hosted", "linux", "windows", "macos", "x64", "arm64", "arm"}


def fixture(name: str) -> Any:
    """One example response body from tests/data/github/."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def error_body(status: int, message: str, documentation_url: str = DOCS, **extra: Any) -> dict:
    """GitHub's ``basic-error`` / ``validation-error`` body."""
    return {"message": message, "documentation_url": documentation_url, "status": str(status),
            **extra}


NOT_ACCESSIBLE = "Resource not accessible by integration"
SECONDARY_LIMIT = ("You have exceeded a secondary rate limit. Please wait a few minutes before "
                   "you try again. If you reach out to GitHub Support for help, please include "
                   "the request ID 0000:0000:0000000:0000000:00000000.")


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int = 0

    @property
    def token(self) -> str:
        auth = self.headers.get("authorization", "")
        return auth.split()[-1] if auth else ""


@dataclass
class Failure:
    """A scripted failure: the next ``times`` matching requests get this answer."""

    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    after_effect: bool  # do the work first (the request "landed"), then answer with the failure


@dataclass
class _State:
    runners: list[dict] = field(default_factory=list)
    org_runners: list[dict] = field(default_factory=list)
    comments: dict[int, list[dict]] = field(default_factory=dict)
    statuses: dict[str, list[dict]] = field(default_factory=dict)  # newest first


class GitHubServer:
    """``with GitHubServer() as gh: env GITHUB_API_URL=gh.url``."""

    def __init__(self, repo: str = "octo-org/octo-repo", org: str = "octo-org") -> None:
        self.repo = repo
        self.org = org
        self.state = _State()
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        # token -> "admin" | "write" | "read"; None accepts any token as admin
        self.tokens: dict[str, str] | None = None
        self.rate_remaining = 4999
        # whose token: None answers GET /user with 403 and writes as github-actions[bot], like
        # the workflow's GITHUB_TOKEN (an installation token); a login answers like a user's token
        self.user_login: str | None = None
        self._lock = threading.RLock()
        self._ids = 1000
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> GitHubServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> GitHubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # --- scripting ------------------------------------------------------------------------

    def fail(self, method: str, path: str, status: int, *, body: Any = None,
             headers: dict[str, str] | None = None, times: int = 1,
             after_effect: bool = False) -> None:
        """Answer the next ``times`` requests matching ``method`` and the ``path`` regex
        with ``status``; with ``after_effect`` the request takes effect first."""
        if body is None:
            body = error_body(status, {502: "Server Error", 500: "Server Error",
                                       503: "Service Unavailable"}.get(status, "Error"))
        self.failures.append(Failure(method.upper(), re.compile(path), status, body,
                                     dict(headers or {}), times, after_effect))

    def fail_secondary_rate_limit(self, method: str, path: str, retry_after: int | None,
                                  *, status: int = 403) -> None:
        headers = {"x-ratelimit-remaining": str(self.rate_remaining)}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        self.fail(method, path, status, headers=headers,
                  body=error_body(status, SECONDARY_LIMIT,
                                  "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"))

    def add_runner(self, name: str, labels: list[str], *, status: str = "online",
                   busy: bool = False, os: str = "linux", org: bool = False) -> dict:
        template = fixture("runner-paginated.json")["runners"][0]
        runner = copy.deepcopy(template)
        runner.update(id=self._next_id(), name=name, os=os, status=status, busy=busy)
        runner["labels"] = [
            {"id": 1 + i, "name": lb,
             "type": "read-only" if lb.lower() in READ_ONLY_LABELS else "custom"}
            for i, lb in enumerate(labels)
        ]
        with self._lock:
            (self.state.org_runners if org else self.state.runners).append(runner)
        return runner

    def add_comment(self, issue: int, body: str, login: str = "someone") -> dict:
        with self._lock:
            return self._create_comment(issue, body, login)

    def comments(self, issue: int) -> list[dict]:
        with self._lock:
            return list(self.state.comments.get(issue, []))

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

    def _now(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def _create_comment(self, issue: int, body: str, login: str) -> dict:
        comment = fixture("issue-comment.json")
        cid = self._next_id()
        comment.update(
            id=cid,
            node_id=f"IC_{cid}",
            url=f"{self.url}/repos/{self.repo}/issues/comments/{cid}",
            html_url=f"https://github.com/{self.repo}/pull/{issue}#issuecomment-{cid}",
            issue_url=f"{self.url}/repos/{self.repo}/issues/{issue}",
            body=body,
            created_at=self._now(),
            updated_at=self._now(),
        )
        comment["user"]["login"] = login
        comment["user"]["type"] = "Bot" if login.endswith("[bot]") else "User"
        self.state.comments.setdefault(issue, []).append(comment)
        return comment


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # small responses otherwise wait on delayed ACKs (~40 ms each)
    owner: GitHubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # --- plumbing -------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        gh = self.owner
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        rec = Recorded(method, parts.path, parse_qs(parts.query),
                       {k.lower(): v for k, v in self.headers.items()}, body)
        with gh._lock:
            gh.requests.append(rec)
            failure = next((f for f in gh.failures
                            if f.method == method and f.path.search(parts.path) and f.times > 0),
                           None)
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
        gh = self.owner
        rec.status = status
        data = payload if isinstance(payload, bytes) else b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        base = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": str(gh.rate_remaining),
                "x-ratelimit-reset": str(int(time.time()) + 3600), "x-ratelimit-used": "1",
                "x-ratelimit-resource": "core", "x-github-api-version-selected": "2022-11-28"}
        base.update({k.lower(): v for k, v in headers.items()})
        for key, value in base.items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _allowed(self, rec: Recorded, need: str) -> tuple[int, Any, dict] | None:
        tokens = self.owner.tokens
        if tokens is None:
            return None
        perm = tokens.get(rec.token)
        if perm is None:
            return 401, error_body(401, "Bad credentials"), {}
        rank = {"read": 0, "write": 1, "admin": 2}
        if rank[perm] < rank[need]:
            return 403, error_body(403, NOT_ACCESSIBLE), {}
        return None

    def _route(self, method: str, path: str, rec: Recorded) -> tuple[int, Any, dict]:
        gh = self.owner
        repo = re.escape(gh.repo)
        routes: list[tuple[str, str, str, Any]] = [
            ("GET", rf"^/repos/{repo}/actions/runners$", "admin", self._list_runners),
            ("GET", rf"^/orgs/{re.escape(gh.org)}/actions/runners$", "admin",
             self._list_org_runners),
            ("GET", rf"^/repos/{repo}/issues/(\d+)/comments$", "read", self._list_comments),
            ("POST", rf"^/repos/{repo}/issues/(\d+)/comments$", "write", self._post_comment),
            ("PATCH", rf"^/repos/{repo}/issues/comments/(\d+)$", "write", self._patch_comment),
            ("POST", rf"^/repos/{repo}/statuses/([0-9a-fA-F]+)$", "write", self._post_status),
            ("GET", rf"^/repos/{repo}/commits/([^/]+)/statuses$", "read", self._list_statuses),
            ("GET", r"^/user$", "read", self._user),
        ]
        for verb, pattern, need, handler in routes:
            m = re.match(pattern, path)
            if verb == method and m:
                denied = self._allowed(rec, need)
                if denied is not None:
                    return denied
                with gh._lock:
                    return handler(rec, *m.groups())
        return 404, error_body(404, "Not Found"), {}

    def _page(self, rec: Recorded, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        per_page = min(100, int(rec.query.get("per_page", ["30"])[0]))
        page = max(1, int(rec.query.get("page", ["1"])[0]))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        base = f"{self.owner.url}{rec.path}"

        def link(p: int) -> str:
            query = {k: v[0] for k, v in rec.query.items()}
            query.update(per_page=str(per_page), page=str(p))
            return f"{base}?{urlencode(query)}"

        rels = []
        if page > 1:
            rels += [f'<{link(page - 1)}>; rel="prev"', f'<{link(1)}>; rel="first"']
        if page < last:
            rels += [f'<{link(page + 1)}>; rel="next"', f'<{link(last)}>; rel="last"']
        return chunk, ({"link": ", ".join(rels)} if rels else {})

    # --- endpoints ------------------------------------------------------------------------

    def _list_runners(self, rec: Recorded) -> tuple[int, Any, dict]:
        chunk, headers = self._page(rec, self.owner.state.runners)
        return 200, {"total_count": len(self.owner.state.runners), "runners": chunk}, headers

    def _list_org_runners(self, rec: Recorded) -> tuple[int, Any, dict]:
        chunk, headers = self._page(rec, self.owner.state.org_runners)
        return 200, {"total_count": len(self.owner.state.org_runners), "runners": chunk}, headers

    def _list_comments(self, rec: Recorded, issue: str) -> tuple[int, Any, dict]:
        chunk, headers = self._page(rec, self.owner.state.comments.get(int(issue), []))
        return 200, chunk, headers

    def _post_comment(self, rec: Recorded, issue: str) -> tuple[int, Any, dict]:
        body = rec.body.get("body") if isinstance(rec.body, dict) else None
        if not body:
            return 422, error_body(422, "Validation Failed", errors=[
                {"resource": "IssueComment", "code": "missing_field", "field": "body"}]), {}
        if len(body) > 65536:
            return 422, error_body(422, "Validation Failed", errors=[
                {"resource": "IssueComment", "code": "custom", "field": "body",
                 "message": "body is too long (maximum is 65536 characters)"}]), {}
        comment = self.owner._create_comment(int(issue), body, self.owner.user_login or "github-actions[bot]")
        return 201, comment, {"location": comment["url"]}

    def _patch_comment(self, rec: Recorded, cid: str) -> tuple[int, Any, dict]:
        for comments in self.owner.state.comments.values():
            for comment in comments:
                if comment["id"] == int(cid):
                    comment["body"] = rec.body.get("body", comment["body"])
                    comment["updated_at"] = self.owner._now()
                    return 200, comment, {}
        return 404, error_body(404, "Not Found"), {}

    def _post_status(self, rec: Recorded, sha: str) -> tuple[int, Any, dict]:
        gh = self.owner
        data = rec.body if isinstance(rec.body, dict) else {}
        if data.get("state") not in ("error", "failure", "pending", "success"):
            return 422, error_body(422, "Validation Failed", errors=[
                {"resource": "Status", "code": "custom", "field": "state",
                 "message": "state is not included in the list"}]), {}
        status = fixture("status-items.json")[0]
        sid = gh._next_id()
        status.update(
            id=sid, node_id=f"SC_{sid}", url=f"{gh.url}/repos/{gh.repo}/statuses/{sha}",
            state=data["state"], description=data.get("description"),
            target_url=data.get("target_url"), context=data.get("context", "default"),
            created_at=gh._now(), updated_at=gh._now(),
        )
        gh.state.statuses.setdefault(sha, []).insert(0, status)
        return 201, status, {"location": status["url"]}

    def _user(self, rec: Recorded) -> tuple[int, Any, dict]:
        login = self.owner.user_login
        if login is None:
            return 403, error_body(403, NOT_ACCESSIBLE, "https://docs.github.com/rest/users/users#get-the-authenticated-user"), {}
        return 200, {"login": login, "id": 583231, "type": "User", "site_admin": False}, {}

    def _list_statuses(self, rec: Recorded, ref: str) -> tuple[int, Any, dict]:
        chunk, headers = self._page(rec, self.owner.state.statuses.get(ref, []))
        return 200, chunk, headers
