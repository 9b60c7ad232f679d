"""Runner inventories: files, label-set targets, suite targets, the local machine, GitHub fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtf_ci.errors import ProviderError, UsageError
from dtf_ci.inventory import (
    UNKNOWN_RUNNERS_SLOTS,
    build_inventory,
    inventory_from_runners,
    load_runners_file,
    local_inventory,
    name_targets,
)
from dtf_ci.model import Defaults, Suite, TargetSpec, Task
from dtf_ci.providers import Runner

RUNNERS = Path(__file__).parent / "data" / "runners.yml"


def suite_with(targets: dict[str, TargetSpec] | None = None) -> Suite:
    return Suite(path="dtf.yml", root=".", version=1, targets=targets or {}, defaults=Defaults(),
                 tasks={"t": Task(id="t", run="true")})


def test_runners_file_gives_one_target_per_label_set() -> None:
    inv = inventory_from_runners(load_runners_file(RUNNERS), suite_with(), f"file:{RUNNERS}")
    assert list(inv.targets) == ["cpu", "gpu-a100", "gpu-t4"]
    cpu = inv.targets["cpu"]
    assert (cpu.online, cpu.offline, cpu.slots) == (2, 1, 2)
    assert inv.targets["gpu-a100"].online == 2  # status defaults to online
    assert inv.targets["gpu-a100"].spec.runs_on == ("self-hosted", "linux", "x64", "gpu-a100", "cuda-12.4")
    assert any("mac-1" in n for n in inv.notes)  # offline runners reported, not planned
    assert any("macos" in n and "no target planned" in n for n in inv.notes)


def test_suite_targets_are_matched_to_runners_by_labels() -> None:
    targets = {
        "cpu": TargetSpec(name="cpu", runs_on=("self-hosted", "cpu")),
        "gpu": TargetSpec(name="gpu", runs_on=("self-hosted", "gpu-a100")),
        "h100": TargetSpec(name="h100", runs_on=("self-hosted", "gpu-h100")),
        "cloud": TargetSpec(name="cloud", runs_on=("self-hosted", "gpu-l4"), autoscaled=True, max_runners=8),
        "hosted": TargetSpec(name="hosted", runs_on=("ubuntu-latest",)),
    }
    inv = inventory_from_runners(load_runners_file(RUNNERS), suite_with(targets), "file:x")
    assert (inv.targets["cpu"].online, inv.targets["cpu"].offline) == (2, 1)
    assert inv.targets["gpu"].online == 2
    assert inv.targets["h100"].online == 0 and inv.targets["h100"].slots == 1
    assert any("'h100'" in n and n.startswith("warning:") for n in inv.notes)
    assert inv.targets["cloud"].slots == 8
    assert not any("'cloud'" in n for n in inv.notes)
    assert inv.targets["hosted"].slots == UNKNOWN_RUNNERS_SLOTS
    assert not any("'hosted'" in n for n in inv.notes)


def test_runners_file_json_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"runners": [{"name": "a", "labels": ["x"]}]}', encoding="utf-8")
    assert load_runners_file(path) == [Runner(name="a", labels=("x",), status="online")]
    bad = tmp_path / "bad.yml"
    bad.write_text("runners:\n  - {name: a, labels: []}\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"bad.yml: runners\[0\]: labels"):
        load_runners_file(bad)
    bad.write_text("runners:\n  - {name: a, labels: [x], status: sleeping}\n", encoding="utf-8")
    with pytest.raises(UsageError, match="online or offline"):
        load_runners_file(bad)
    bad.write_text("hello: 1\n", encoding="utf-8")
    with pytest.raises(UsageError, match="runners:"):
        load_runners_file(bad)
    with pytest.raises(UsageError, match="cannot read"):
        load_runners_file(tmp_path / "missing.yml")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.frozensets(st.sampled_from(
    ["self-hosted", "linux", "x64", "gpu", "gpu-a100", "gpu-h100", "cuda-12.4", "cpu", "macos", "arm64", "big"]),
    min_size=1), min_size=1, max_size=8, unique=True))
def test_target_names_are_unique_and_deterministic(label_sets: list[frozenset[str]]) -> None:
    names = name_targets(label_sets)
    assert len(set(names.values())) == len(label_sets)
    assert names == name_targets(list(reversed(label_sets)))
    assert all(n and n == n.lower() for n in names.values())


def test_most_specific_label_names_the_target() -> None:
    names = name_targets([frozenset({"self-hosted", "linux", "gpu-a100"}), frozenset({"self-hosted", "linux"})])
    assert names[frozenset({"self-hosted", "linux", "gpu-a100"})] == "gpu-a100"
    assert names[frozenset({"self-hosted", "linux"})] in ("linux", "self-hosted")


def test_local_inventory_uses_the_probe() -> None:
    inv = local_inventory(workers=3)
    local = inv.targets["local"]
    assert inv.source == "local" and local.slots == 3 and local.online == 1
    assert local.job_overhead_s == pytest.approx(0.2)
    assert "os" in local.spec.facts and local.spec.runs_on


def test_no_runners_flag_uses_suite_targets_else_local() -> None:
    spec = TargetSpec(name="cpu", runs_on=("ubuntu-latest",))
    assert build_inventory(suite_with({"cpu": spec}), None).source == "suite"
    assert list(build_inventory(suite_with(), None).targets) == ["local"]


def test_github_without_token_plans_from_suite_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DTF_RUNNERS_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    spec = TargetSpec(name="gpu", runs_on=("self-hosted", "gpu-a100"))
    inv = build_inventory(suite_with({"gpu": spec}), "github")
    assert inv.source == "github" and list(inv.targets) == ["gpu"]
    assert inv.notes == ["no token may list runners: planned from the suite's targets"]


@pytest.mark.parametrize("status", [401, 403, 404])
def test_github_refusal_falls_back(monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    import types

    def list_runners(ctx, *, token=None, org=None):
        raise ProviderError("refused", status=status)

    fake = types.SimpleNamespace(context=lambda env=None: None, list_runners=list_runners)
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.setattr("dtf_ci.providers.get_provider", lambda name=None: fake)
    inv = build_inventory(suite_with({"cpu": TargetSpec(name="cpu", runs_on=("ubuntu-latest",))}), "github")
    assert inv.notes == ["no token may list runners: planned from the suite's targets"]


def test_github_lists_runners(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    runners = [Runner(name="g1", labels=("self-hosted", "linux", "gpu-a100")),
               Runner(name="g2", labels=("self-hosted", "linux", "gpu-a100"), status="offline")]
    fake = types.SimpleNamespace(context=lambda env=None: None,
                                 list_runners=lambda ctx, token=None, org=None: runners)
    monkeypatch.setenv("DTF_RUNNERS_TOKEN", "t")
    monkeypatch.setattr("dtf_ci.providers.get_provider", lambda name=None: fake)
    inv = build_inventory(suite_with(), "github")
    assert list(inv.targets) == ["gpu-a100"]
    assert (inv.targets["gpu-a100"].online, inv.targets["gpu-a100"].offline) == (1, 1)
