"""The ``--fail-on`` policy: when a run is a failure, and the words that say why.

A green must mean "measured and fine". Besides regressions and failed units, two things leave
a run unmeasured: **missing units** (a shard that never ran, a dead runner, a broken download
pattern, an unwired wave) and **no baseline** (history that could not be read: no
credentials, a shallow clone). Both fail the run by default; a team that accepts them says so
explicitly with ``allow-missing`` / ``allow-no-baseline``.

One :func:`evaluate` result feeds everything a person or a tool sees: the ``policy`` object in
``verdicts.json``, the report's headline, the commit status (state and description) and the
exit code, so they can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dtf_ci.errors import UsageError

BASES = ("regression", "failure", "never")
ALLOWANCES = ("allow-missing", "allow-no-baseline")
HELP = ("POLICY[,allow-missing][,allow-no-baseline]. POLICY: regression (default): exit 1 on "
        "regressions, failed units, missing units or no baseline (history unreadable); failure: "
        "the same without regressions; never: always 0 once a report is written. "
        "allow-missing / allow-no-baseline relax those two (the report still says so), e.g. "
        "--fail-on regression,allow-missing")


@dataclass(frozen=True)
class Policy:
    """A parsed ``--fail-on`` value."""

    base: str = "regression"
    allow_missing: bool = False
    allow_no_baseline: bool = False

    @property
    def text(self) -> str:
        extra = [a for a, on in zip(ALLOWANCES, (self.allow_missing, self.allow_no_baseline),
                                    strict=True) if on]
        return ",".join([self.base, *extra])


def parse_fail_on(text: str | Policy) -> Policy:
    """``regression``, ``failure,allow-missing``, ... → :class:`Policy`; a clear UsageError else."""
    if isinstance(text, Policy):
        return text
    words = [w.strip() for w in str(text).split(",") if w.strip()]
    bases = [w for w in words if w in BASES]
    unknown = [w for w in words if w not in BASES and w not in ALLOWANCES]
    if unknown or len(bases) != 1:
        what = (f"unknown word {unknown[0]!r}" if unknown else
                "no policy" if not bases else f"two policies ({', '.join(bases)})")
        raise UsageError(f"--fail-on {text!r}: {what}; write {HELP.split('.')[0]} "
                         f"(policies: {', '.join(BASES)}; relaxations: {', '.join(ALLOWANCES)})")
    return Policy(bases[0], "allow-missing" in words, "allow-no-baseline" in words)


def fail_on_type(text: str) -> str:
    """argparse ``type=``: validate early (exit 2 with the message), keep the text."""
    import argparse

    try:
        return parse_fail_on(text).text
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def missing_units(verdicts: dict[str, Any]) -> list[dict[str, Any]]:
    """Units the plan expected that brought no result (their shard was absent or rejected)."""
    return [u for u in verdicts.get("units") or [] if isinstance(u, dict) and u.get("status") == "missing"]


def evaluate(verdicts: dict[str, Any], fail_on: str | Policy) -> dict[str, Any]:
    """The policy's answer for a run: ``{"fail-on", "exit-code", "state", "reasons", ...}``.

    ``state`` is the commit status (``failure`` exactly when the exit code is 1, else
    ``success``); ``reasons`` says in words what failed the run or, when relaxed, what was
    accepted; ``no-baseline`` carries why history could not be read (or None).
    """
    policy = parse_fail_on(fail_on)
    counts = verdicts.get("counts") or {}
    missing = missing_units(verdicts)
    no_baseline = verdicts.get("no-baseline") or None
    failing: list[str] = []
    accepted: list[str] = []
    if counts.get("failed"):
        failing.append(f"{counts['failed']} failed series")
    if counts.get("regression") and policy.base in ("regression", "never"):
        failing.append(f"{counts['regression']} regression(s)")
    if missing:
        words = f"{len(missing)} unit(s) missing ({missing[0]['unit']}: {missing[0].get('reason') or 'no result'})"
        (accepted if policy.allow_missing else failing).append(words)
    if verdicts.get("plan-missing"):
        words = ("no plan: units that never ran cannot be seen (pass --plan plan.json; in the "
                 "action, download the dtf-plan artifact)")
        (accepted if policy.allow_missing else failing).append(words)
    if no_baseline:
        words = f"no baseline: {no_baseline}"
        (accepted if policy.allow_no_baseline else failing).append(words)
    if policy.base == "never":
        accepted, failing = failing + accepted, []
    code = 1 if failing else 0
    return {"fail-on": policy.text, "exit-code": code, "state": "failure" if code else "success",
            "reasons": failing, "accepted": accepted, "no-baseline": no_baseline,
            "missing-units": len(missing)}


def policy_message(policy: dict[str, Any]) -> str:
    """The PolicyFailure message: which policy, and every reason it failed."""
    return f"policy --fail-on {policy['fail-on']} failed: " + "; ".join(policy["reasons"])
