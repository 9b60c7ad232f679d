"""A fork server for the kill -9 tests: imports dtf once, then forks one appender per request.

Started as ``python loud_append_zygote.py``; reads one JSON request per line on stdin
(``{"store": "local"|"git", "root": ..., "run_id": ..., "db": ..., "writer": ..., "result": ...}``),
forks a child that becomes its own process group leader (so a kill reaches its git children
too, as a cancelled CI job's would), prints ``pid N``, waits for it and prints ``exit CODE``
(negative: killed by that signal). The child writes ``ok`` or the error to ``result``.
Forking a warm process makes fifty kills cost seconds, not fifty interpreter starts.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from dtf_ci.errors import HistoryError
from dtf_ci.history import open_history


def _append(req: dict) -> None:
    os.setsid()
    store = (open_history(f"git:{req['branch']}", repo_dir=Path(req["root"])) if req["store"] == "git"
             else open_history(req["root"]))
    meta = {"run-id": req["run_id"], "created-at": "2026-12-06T08:00:00Z", "sha": "abc",
            "branch": "main", "writer": req["writer"]}
    try:
        store.append(meta, Path(req["db"]))
        text = "ok"
    except HistoryError as exc:
        text = f"refused: {exc}"
    Path(req["result"]).write_text(text)


def main() -> None:
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                _append(req)
            finally:
                os._exit(0)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(f"exit {code}", flush=True)


if __name__ == "__main__":
    main()
