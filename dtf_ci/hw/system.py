"""The machine around the CPU: memory and its cgroup limit, virtualization, container, cloud.

A result from a VM or a container limited to a slice of the host is not comparable with one
from bare metal, and a cloud instance type names a machine more precisely than a CPU model.
All of it comes from DMI (``/sys/class/dmi/id``), cgroups and marker files under the root.
"""

from __future__ import annotations

import re
from typing import Any

from dtf_ci.hw import cgroup
from dtf_ci.hw.source import Source

_HYPERVISORS = (  # (DMI text, lower-case, contains) -> hypervisor
    ("amazon ec2", "kvm"), ("google compute engine", "kvm"), ("qemu", "kvm"), ("kvm", "kvm"),
    ("vmware", "vmware"), ("virtualbox", "virtualbox"), ("innotek", "virtualbox"),
    ("xen", "xen"), ("parallels", "parallels"), ("bochs", "bochs"), ("cloud hypervisor", "kvm"),
    ("firecracker", "kvm"), ("openstack", "kvm"), ("droplet", "kvm"), ("vserver", "kvm"),
)
_AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$")


def dmi(src: Source) -> dict[str, str]:
    """The DMI strings that name a machine (absent ones left out)."""
    keys = ("sys_vendor", "product_name", "product_version", "board_vendor", "board_name",
            "bios_vendor", "chassis_asset_tag", "chassis_vendor")
    out = {}
    for key in keys:
        value = src.read(f"/sys/class/dmi/id/{key}")
        if value and value.lower() not in ("", "none", "to be filled by o.e.m.", "default string"):
            out[key] = value
    return out


def virtualization(src: Source, ids: dict[str, str], hypervisor_flag: bool) -> str:
    """Hypervisor name (``kvm``, ``vmware``, ``xen``, ``hyperv``, ...), ``vm`` when only the CPU's
    hypervisor flag says so, else ``none`` (bare metal, or a container on bare metal)."""
    text = " ".join(ids.get(k, "") for k in ("sys_vendor", "product_name", "bios_vendor", "board_vendor")).lower()
    if "microsoft corporation" in text and "virtual machine" in text:
        return "hyperv"
    for needle, name in _HYPERVISORS:
        if needle in text:
            return name
    xen = src.read("/sys/hypervisor/type")
    if xen:
        return xen.lower()
    return "vm" if hypervisor_flag else "none"


def container(src: Source) -> str:
    """``docker``, ``podman``, ``kubernetes``, ``lxc``, ``containerd`` or ``none``."""
    if src.env.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    if src.exists("/run/.containerenv"):
        return "podman"
    if src.exists("/.dockerenv"):
        return "docker"
    for path in ("/proc/1/cgroup", "/proc/self/cgroup"):
        text = src.read(path) or ""
        for needle, name in (("kubepods", "kubernetes"), ("docker", "docker"), ("libpod", "podman"),
                             ("lxc", "lxc"), ("containerd", "containerd")):
            if needle in text:
                return name
    return "none"


def cloud(ids: dict[str, str]) -> tuple[str, str]:
    """(provider, instance type) from DMI; the type only where the provider writes it there (AWS)."""
    vendor = ids.get("sys_vendor", "").lower()
    product = ids.get("product_name", "")
    bios = ids.get("bios_vendor", "").lower()
    asset = ids.get("chassis_asset_tag", "")
    if "amazon" in vendor or "amazon" in bios or "amazon" in ids.get("product_version", "").lower():
        return "aws", product if _INSTANCE_TYPE.match(product) else ""
    if vendor == "google" or "google compute engine" in product.lower():
        return "gcp", ""
    if asset == _AZURE_ASSET_TAG:
        return "azure", ""
    if "oraclecloud" in asset.lower():
        return "oracle", ""
    for needle, name in (("hetzner", "hetzner"), ("digitalocean", "digitalocean"),
                         ("alibaba", "alibaba"), ("scaleway", "scaleway"), ("ovh", "ovh")):
        if needle in vendor:
            return name, ""
    return "", ""


def memory_total_bytes(src: Source) -> int | None:
    text = src.read("/proc/meminfo") or ""
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def probe_memory(src: Source, fallback_total: int | None = None) -> dict[str, Any]:
    """Total memory, the cgroup limit, and what this process may use (the smaller)."""
    total = memory_total_bytes(src) or fallback_total
    limit = cgroup.memory_limit_bytes(src)
    if limit is not None and total is not None and limit >= total:
        limit = None  # a limit above the RAM limits nothing
    usable = min(x for x in (total, limit) if x is not None) if (total or limit) else None
    gib = 2.0**30
    return {
        "total_gb": round(total / gib, 1) if total else None,
        "limit_gb": round(limit / gib, 1) if limit else None,
        "usable_gb": round(usable / gib, 1) if usable else None,
    }


def probe_system(src: Source, *, hypervisor_flag: bool) -> dict[str, Any]:
    """The ``system`` section: DMI strings, virtualization, container, cloud and instance type."""
    ids = dmi(src)
    provider, instance = cloud(ids)
    return {"dmi": ids, "virtualization": virtualization(src, ids, hypervisor_flag),
            "container": container(src), "cloud": provider, "instance_type": instance}
