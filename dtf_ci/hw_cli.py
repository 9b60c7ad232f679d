"""``dtf hw``: what this machine is, in the words requirements are written in."""

from __future__ import annotations

import json
from typing import Any


def run_hw_command(args: Any) -> int:
    from dtf_ci.hardware import probe

    host = probe()
    if args.json:
        print(json.dumps(host.to_json(), indent=2, sort_keys=True))
        return 0
    print(f"host         {host.hostname}")
    print(f"fingerprint  {host.fingerprint}")
    print(f"labels       {', '.join(host.labels)}")
    print("facts:")
    width = max(len(k) for k in host.facts)
    for key in sorted(host.facts):
        print(f"  {key:<{width}}  {host.facts[key]}")
    return 0
