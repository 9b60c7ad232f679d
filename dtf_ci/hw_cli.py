"""``dtf hw``: what this machine is, in the words requirements are written in."""

from __future__ import annotations

import json
from typing import Any


def _print_table(doc: dict[str, Any]) -> None:
    facts: dict[str, str] = doc["facts"]
    print(f"host         {doc['hostname']}")
    print(f"fingerprint  {doc['fingerprint']}")
    print(f"labels       {', '.join(doc['labels'])}")
    print("facts:")
    width = max(len(k) for k in facts)
    for key in sorted(facts):
        print(f"  {key:<{width}}  {facts[key]}")
    for gpu in doc.get("gpus") or []:
        states = ", ".join(f"{k}={gpu[k]}" for k in ("sm_clock_mhz", "sm_clock_max_mhz", "clocks_locked",
                                                      "throttle_reasons", "mig", "ecc", "persistence")
                           if gpu.get(k) not in (None, []))
        print(f"gpu {gpu.get('index')}: {gpu.get('name')} ({gpu.get('source')})" + (f": {states}" if states else ""))
    for name, info in (doc.get("browsers") or {}).items():
        if not isinstance(info, dict):
            print(f"browsers: {info}")
            continue
        if info.get("error"):
            print(f"browser {name}: {info['error']}")
            continue
        gpu = info.get("webgpu") or {}
        said = "WebGPU yes" if gpu.get("available") else f"WebGPU no ({gpu.get('reason')})"
        nn = info.get("webnn") or {}
        said += "; WebNN yes" if nn.get("available") else f"; WebNN no ({nn.get('reason')})"
        print(f"browser {name} {info.get('version')}: {said}")
    for note in doc.get("notes") or []:
        print(f"note: {note}")


def run_hw_command(args: Any) -> int:
    if getattr(args, "diff", None):
        from dtf_ci.hw.document import diff_facts, diff_text, load_document

        path_a, path_b = args.diff
        a, b = load_document(path_a), load_document(path_b)
        for line in diff_text(a, b, path_a, path_b):
            print(line)
        return 1 if any(not c.volatile for c in diff_facts(a, b)) else 0

    from dtf_ci.hardware import probe, probe_host

    if getattr(args, "browsers", False):
        from dtf_ci.hw.browsers import probe_browsers

        host = probe_host(browsers=probe_browsers(getattr(args, "chromium", None)))
    else:
        host = probe()
    doc = host.to_json()
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
        return 0
    _print_table(doc)
    return 0
