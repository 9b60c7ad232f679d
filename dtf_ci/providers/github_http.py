"""Talking to the GitHub REST API: one PyGithub client, and retries that dtf owns.

PyGithub is built with ``retry=None`` and no request pacing of its own, and every call goes
through :meth:`GitHubAPI.call`. dtf owns the retry logic instead of using PyGithub's
``GithubRetry`` (urllib3 ``Retry``) because three of its rules cannot be expressed there:

* a POST that failed with a 5xx may still have landed, so before a comment or status is
  posted again the caller's ``recover`` check runs (re-list the comments, re-read the
  statuses) and a second copy is never created;
* every wait goes through the module-level :data:`SLEEP`, so tests replace it and assert the
  wait that was asked for, in milliseconds of wall time;
* a wait longer than :attr:`RetryPolicy.max_wait` gives up with a clear message at once
  rather than sleeping for an hour into a rate limit that will still be there.

The rules, from GitHub's "Rate limits for the REST API" page:

* 5xx, connection errors and timeouts: retried with exponential backoff from
  ``server_backoff`` seconds;
* 403/429 with ``retry-after``: a secondary rate limit; wait that many seconds;
* 403/429 with ``x-ratelimit-remaining: 0``: the primary rate limit; wait until
  ``x-ratelimit-reset`` (plus one second);
* 403/429 whose message names a rate limit but without either header: a secondary limit;
  wait ``secondary_backoff`` seconds (60), doubling each time, capped at ``max_wait``;
* every other 4xx (401, 403 without a rate limit, 404, 422 validation): never retried;
  raised as :class:`~dtf_ci.errors.ProviderError` carrying GitHub's message and status.

An API answer is data from the network, so it is bounded too: one call (retries and waits
included) gives up after :attr:`RetryPolicy.deadline` seconds, a listing stops after
:attr:`RetryPolicy.max_items` items (a server sending endless ``next`` links cannot hold the
job), and an answer of the wrong shape (not JSON, ``null``, a redirect PyGithub cannot follow)
is a :class:`~dtf_ci.errors.ProviderError`, never a crash of ``dtf aggregate``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from dtf_ci import log
from dtf_ci.errors import ProviderError
from dtf_ci.providers import bounded_listing

if TYPE_CHECKING:  # PyGithub is imported only when a client is built
    from github import Github

T = TypeVar("T")

SLEEP: Callable[[float], None] = time.sleep
"""Every wait of this module goes through here; tests replace it with a recorder."""

NOW: Callable[[], float] = time.time
"""Wall clock in epoch seconds, compared with ``x-ratelimit-reset``; replaceable in tests."""

DEFAULT_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. The defaults suit a CI job; tests shrink them."""

    max_attempts: int = 5  # tries of one request, the first included
    max_wait: float = 900.0  # longest single wait in seconds; longer waits give up at once
    server_backoff: float = 2.0  # first wait after a 5xx or a connection error, then doubled
    secondary_backoff: float = 60.0  # first wait for a secondary rate limit without retry-after
    write_interval: float = 1.0  # least seconds between content-creating requests (GitHub's advice)
    timeout: int = 30  # seconds per HTTP request
    deadline: float = 600.0  # seconds one call may take, every retry and wait included
    max_items: int = 10_000  # items one listing may return before it is cut off


POLICY = RetryPolicy()
"""The policy new clients use unless given one."""


@dataclass(frozen=True)
class Decision:
    """What to do about one failed request."""

    retry: bool
    wait: float = 0.0
    kind: str = ""  # server | primary-rate-limit | secondary-rate-limit | client
    may_have_landed: bool = False  # the request may have taken effect (5xx, lost connection)


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == name:
            return str(value)
    return None


def _message(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("message") or "")
    if isinstance(data, (bytes, str)):
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        return text.strip().splitlines()[0][:200] if text.strip() else ""
    return ""


def is_rate_limit_message(message: str) -> bool:
    """GitHub's wording for primary and secondary rate limits (as PyGithub also reads it)."""
    lower = message.lower()
    return (
        "rate limit" in lower
        or lower.endswith("please retry your request again later.")
        or lower.endswith("please wait a few minutes before you try again.")
    )


def classify(
    status: int | None,
    headers: Any,
    data: Any,
    *,
    attempt: int,
    policy: RetryPolicy,
    now: float | None = None,
) -> Decision:
    """Decide whether a failed request is retried and how long to wait first.

    ``status`` is None for a connection error or timeout. ``attempt`` counts from 1 and
    drives the exponential backoffs.
    """
    if status is None or status >= 500:
        wait = min(policy.server_backoff * 2 ** (attempt - 1), policy.max_wait)
        return Decision(True, wait, "server", may_have_landed=True)
    if status in (403, 429):
        retry_after = _header(headers, "retry-after")
        if retry_after is not None:
            try:
                return Decision(True, max(0.0, float(retry_after)), "secondary-rate-limit")
            except ValueError:
                pass  # an HTTP date; fall through to the backoff
        remaining = _header(headers, "x-ratelimit-remaining")
        reset = _header(headers, "x-ratelimit-reset")
        if remaining is not None and remaining.strip() == "0" and reset:
            current = NOW() if now is None else now
            try:
                return Decision(True, max(1.0, float(reset) - current + 1.0), "primary-rate-limit")
            except ValueError:
                pass
        if status == 429 or is_rate_limit_message(_message(data)):
            wait = min(policy.secondary_backoff * 2 ** (attempt - 1), policy.max_wait)
            return Decision(True, wait, "secondary-rate-limit")
    return Decision(False, kind="client")


def describe(status: int | None, data: Any) -> str:
    """GitHub's own words for an error: message, validation details, documentation link."""
    if status is None:
        return "no answer (connection failed or timed out)"
    parts = [f"{status} {_message(data) or 'no message'}"]
    if isinstance(data, dict):
        details = []
        for err in data.get("errors") or []:
            if isinstance(err, dict):
                text = err.get("message") or " ".join(
                    str(err.get(k)) for k in ("resource", "field", "code") if err.get(k)
                )
                details.append(str(text))
            else:
                details.append(str(err))
        if details:
            parts.append("(" + "; ".join(details) + ")")
        if data.get("documentation_url"):
            parts.append(f"see {data['documentation_url']}")
    return " ".join(parts)


class GitHubAPI:
    """A PyGithub client whose every call is retried by dtf's rules."""

    def __init__(
        self,
        token: str | None,
        api_url: str = DEFAULT_API_URL,
        *,
        policy: RetryPolicy | None = None,
    ) -> None:
        from github import Auth, Github

        self.policy = policy or POLICY
        self._secret = token or ""
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self._last_write = 0.0
        self.gh: Github = Github(
            auth=Auth.Token(token) if token else None,
            base_url=self.api_url,
            timeout=self.policy.timeout,
            per_page=100,
            retry=None,  # dtf owns retries: see the module docstring
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,  # get_repo()/get_issue() must not cost a request each
            user_agent="dtf-ci",
        )

    def repo(self, full_name: str) -> Any:
        """A lazy Repository: no request until something is read from it."""
        return self.gh.get_repo(full_name)

    def org(self, login: str) -> Any:
        return self.gh.get_organization(login)

    def call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        write: bool = False,
        recover: Callable[[], T | None] | None = None,
    ) -> T:
        """:meth:`_call`, with the token cut out of every message (a server may echo it)."""
        try:
            return self._call(what, fn, write=write, recover=recover)
        except ProviderError as exc:
            raise ProviderError(log.redact(exc.message, self._secret), status=exc.status) from None

    def _call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        write: bool = False,
        recover: Callable[[], T | None] | None = None,
    ) -> T:
        """Run ``fn`` (one API request, or a paginated listing) with retries.

        ``what`` names the request in messages ("post the PR comment on #7"). ``write``
        paces content-creating requests ``write_interval`` apart. ``recover`` is asked after
        a failure that may have landed (5xx, lost connection), before trying again: when it
        returns a value, that is the result and the request is not sent again.
        """
        from github import GithubException
        from github.GithubException import BadAttributeException
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import Timeout

        policy = self.policy
        attempt = 0
        started = time.monotonic()
        waited = slept = 0.0
        while True:
            attempt += 1
            if write:
                self._pace()
            try:
                return fn()
            except ProviderError:
                raise
            except GithubException as exc:
                status: int | None = exc.status
                headers: Any = exc.headers
                data: Any = exc.data
                if status is not None and 200 <= status < 400:  # e.g. a 200 whose body is not JSON
                    raise ProviderError(f"GitHub API: could not {what}: an answer dtf cannot read "
                                        f"(HTTP {status}: {_message(data) or 'no message'})", status=status) from None
            except (RequestsConnectionError, Timeout) as exc:
                status, headers, data = None, None, str(exc)
            except (ValueError, TypeError, AttributeError, KeyError, IndexError, AssertionError, RuntimeError,
                    BadAttributeException) as exc:
                raise ProviderError(f"GitHub API: could not {what}: the answer is not what the API "
                                    f"documents ({type(exc).__name__}: {str(exc)[:200]})") from None
            finally:
                if write:
                    self._last_write = time.monotonic()
            decision = classify(status, headers, data, attempt=attempt, policy=policy)
            if not decision.retry:
                raise ProviderError(f"GitHub API: could not {what}: {describe(status, data)}",
                                    status=status)
            if attempt >= policy.max_attempts:
                raise ProviderError(
                    f"GitHub API: could not {what} after {attempt} attempts: "
                    f"{describe(status, data)}", status=status)
            if decision.wait > policy.max_wait:
                raise ProviderError(
                    f"GitHub API: could not {what}: {decision.kind} asks to wait "
                    f"{decision.wait:.0f} s, longer than dtf waits ({policy.max_wait:.0f} s): "
                    f"{describe(status, data)}", status=status)
            # waits count as asked (tests record them instead of sleeping); the rest as measured
            spent = waited + (time.monotonic() - started - slept)
            if spent + decision.wait > policy.deadline:
                raise ProviderError(
                    f"GitHub API: could not {what} within {policy.deadline:.0f} s "
                    f"(attempt {attempt}): {describe(status, data)}", status=status)
            log.info(log.redact(f"GitHub API: {what}: {describe(status, data)}; {decision.kind}, "
                     f"retrying in {decision.wait:.1f} s (attempt {attempt + 1} of "
                     f"{policy.max_attempts})", self._secret))
            before = time.monotonic()
            SLEEP(decision.wait)
            slept += time.monotonic() - before
            waited += decision.wait
            if decision.may_have_landed and recover is not None:
                found = self.call(f"check whether the last try to {what} landed", recover)
                if found is not None:
                    log.info(f"GitHub API: {what}: the earlier try had landed; not sending it again")
                    return found

    def bounded(self, items: Iterable[T], what: str) -> Iterator[T]:
        """A listing cut off at ``max_items`` items or ``deadline`` seconds, with a clear error."""
        return bounded_listing(items, what, api="GitHub", max_items=self.policy.max_items,
                               deadline=self.policy.deadline)

    def _pace(self) -> None:
        if self._last_write and self.policy.write_interval > 0:
            gap = time.monotonic() - self._last_write
            if gap < self.policy.write_interval:
                SLEEP(self.policy.write_interval - gap)
