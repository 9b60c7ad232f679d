"""CPU, memory, cgroup and platform probes on recorded procfs/sysfs trees (no real machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtf_ci.hardware import derive_labels, probe_host
from dtf_ci.hw import cgroup, cpu
from dtf_ci.hw.source import Source
from dtf_ci.requirements import parse_requirement
from tests.hw_fakes import GRAVITON3_CPUINFO, spr_cpuinfo, topology, write_tree

GIB = 2**30


def _probe(root: Path, tmp_path: Path, **kw):
    bin_dir = tmp_path / "empty-bin"
    bin_dir.mkdir(exist_ok=True)
    src = Source(root=root, path=str(bin_dir), env={})
    kw.setdefault("arch", "x86_64")
    return probe_host(src, system="Linux", nvml=None, amdsmi=None, hostname="box", **kw)


def _ok(req: str, host) -> bool:
    return parse_requirement(req).check(frozenset(host.labels), host.facts) is None


@pytest.fixture
def spr_container(tmp_path: Path) -> Path:
    """A 64-thread Sapphire Rapids EC2 host; this process in a Docker container limited to 4 CPUs."""
    files = {
        "/proc/cpuinfo": spr_cpuinfo(64),
        "/proc/meminfo": "MemTotal:       263856000 kB\nMemFree:        1000 kB\n",
        "/proc/self/cgroup": "0::/\n",
        "/sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory pids\n",
        "/sys/fs/cgroup/cpu.max": "400000 100000\n",
        "/sys/fs/cgroup/memory.max": f"{8 * GIB}\n",
        "/sys/devices/system/cpu/smt/active": "1\n",
        "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "performance\n",
        "/sys/devices/system/cpu/cpu0/cpufreq/scaling_driver": "intel_pstate\n",
        "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "3800000\n",
        "/sys/devices/system/cpu/intel_pstate/no_turbo": "1\n",
        "/sys/devices/system/cpu/cpu0/cache/index0/level": "1\n",
        "/sys/devices/system/cpu/cpu0/cache/index0/type": "Data\n",
        "/sys/devices/system/cpu/cpu0/cache/index0/size": "48K\n",
        "/sys/devices/system/cpu/cpu0/cache/index1/level": "1\n",
        "/sys/devices/system/cpu/cpu0/cache/index1/type": "Instruction\n",
        "/sys/devices/system/cpu/cpu0/cache/index1/size": "32K\n",
        "/sys/devices/system/cpu/cpu0/cache/index2/level": "2\n",
        "/sys/devices/system/cpu/cpu0/cache/index2/type": "Unified\n",
        "/sys/devices/system/cpu/cpu0/cache/index2/size": "2048K\n",
        "/sys/devices/system/cpu/cpu0/cache/index3/level": "3\n",
        "/sys/devices/system/cpu/cpu0/cache/index3/type": "Unified\n",
        "/sys/devices/system/cpu/cpu0/cache/index3/size": "105M\n",
        "/sys/class/dmi/id/sys_vendor": "Amazon EC2\n",
        "/sys/class/dmi/id/product_name": "m7i.16xlarge\n",
        "/sys/class/dmi/id/bios_vendor": "Amazon EC2\n",
        "/.dockerenv": "",
        **topology(64),
    }
    return write_tree(tmp_path / "root", files)


def test_container_on_a_big_host_counts_its_quota_not_the_host(spr_container, tmp_path):
    host = _probe(spr_container, tmp_path, affinity=64)
    f = host.facts
    assert f["cpu-count"] == "4" and host.cpu_count == 4
    assert f["cpu-logical-cores"] == "64" and f["cpu-physical-cores"] == "32" and f["cpu-smt"] == "true"
    assert f["memory-gb"] == "8" and f["memory-limit-gb"] == "8" and f["memory-total-gb"] == "252"
    assert f["container"] == "docker" and f["virtualization"] == "kvm"
    assert f["cloud"] == "aws" and f["cloud-instance-type"] == "m7i.16xlarge"
    assert f["cpu-vendor"] == "intel" and f["cpu-model"] == "Intel(R) Xeon(R) Platinum 8488C"
    assert host.details["cpu"]["quota_cpus"] == 4.0


def test_isa_frequency_and_caches_become_facts_users_can_require(spr_container, tmp_path):
    host = _probe(spr_container, tmp_path, affinity=64)
    f = host.facts
    for feature in ("avx2", "avx512f", "avx512-bf16", "avx512-fp16", "avx512-vnni", "amx-tile", "amx-int8"):
        assert f[feature] == "true", feature
    assert f["cpu-governor"] == "performance" and f["cpu-turbo"] == "false" and f["cpu-max-mhz"] == "3800"
    assert (f["cpu-cache-l1d-kb"], f["cpu-cache-l1i-kb"], f["cpu-cache-l2-kb"], f["cpu-cache-l3-kb"]) == (
        "48", "32", "2048", str(105 * 1024))
    for ok in ("avx512f", "amx-bf16", "cpu-governor==performance", "!cpu-turbo", "cpus>=4",
               "memory>=8g", "cpu-cache-l3-kb>=64m", "cloud-instance-type==m7i.16xlarge", "aws", "kvm"):
        assert _ok(ok, host), ok
    for bad in ("cpus>=8", "!container", "memory>=16g", "sve", "cpu-turbo", "cpu-governor==powersave"):
        assert not _ok(bad, host), bad


def test_nested_cgroup_v2_takes_the_tightest_ancestor(tmp_path):
    root = write_tree(tmp_path / "r", {
        "/proc/self/cgroup": "0::/kubepods/pod1/ctr\n",
        "/sys/fs/cgroup/cgroup.controllers": "cpu memory\n",
        "/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max": "max 100000\n",
        "/sys/fs/cgroup/kubepods/pod1/cpu.max": "150000 100000\n",
        "/sys/fs/cgroup/kubepods/cpu.max": "3200000 100000\n",
        "/sys/fs/cgroup/kubepods/pod1/ctr/memory.max": "max\n",
        "/sys/fs/cgroup/kubepods/memory.max": f"{4 * GIB}\n",
    })
    src = Source(root=root, env={})
    assert cgroup.cpu_quota(src) == 1.5
    assert cgroup.cpus_from_quota(1.5) == 2  # 1.5 CPUs of time keeps two threads busy
    assert cgroup.memory_limit_bytes(src) == 4 * GIB


def test_cgroup_v1_quota_and_unlimited_memory(tmp_path):
    root = write_tree(tmp_path / "r", {
        "/proc/self/cgroup": "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n",
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "300000\n",
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
        "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "9223372036854771712\n",
    })
    src = Source(root=root, env={})
    assert cgroup.cpu_quota(src) == 3.0
    assert cgroup.memory_limit_bytes(src) is None  # v1 writes "no limit" as a huge number


def test_cgroup_v1_inside_the_container_namespace_reads_the_mount_root(tmp_path):
    """/proc/self/cgroup names the host's path, but the container sees its own cgroup at the root."""
    root = write_tree(tmp_path / "r", {
        "/proc/self/cgroup": "4:memory:/process_api/abc\n1:cpu:/\n",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
        "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes": f"{2 * GIB}\n",
    })
    src = Source(root=root, env={})
    assert cgroup.cpu_quota(src) is None
    assert cgroup.memory_limit_bytes(src) == 2 * GIB


def test_affinity_narrower_than_quota_wins(tmp_path, spr_container):
    assert _probe(spr_container, tmp_path, affinity=2).facts["cpu-count"] == "2"
    assert cpu.usable_cpus(64, None, None) == 64


def test_graviton_arm_features_and_cloud(tmp_path):
    root = write_tree(tmp_path / "r", {
        "/proc/cpuinfo": GRAVITON3_CPUINFO,
        "/sys/devices/system/cpu/online": "0-3\n",
        "/sys/devices/system/cpu/cpufreq/boost": "1\n",
        "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "powersave\n",
        "/sys/class/dmi/id/sys_vendor": "Amazon EC2\n",
        "/sys/class/dmi/id/product_name": "c7g.xlarge\n",
    })
    host = _probe(root, tmp_path, arch="aarch64")
    f = host.facts
    assert f["arch"] == "arm64" and "arm64" in host.labels
    assert f["cpu-vendor"] == "arm" and f["cpu-model"] == "Neoverse-V1"
    assert (f["neon"], f["sve"], f["sve2"], f["bf16"], f["i8mm"]) == ("true", "true", "false", "true", "true")
    assert "avx2" not in f  # x86 features are not facts on Arm
    assert f["cpu-turbo"] == "true" and f["cpu-governor"] == "powersave"
    assert f["cloud-instance-type"] == "c7g.xlarge" and f["cpu-count"] == "4"
    assert _ok("sve", host) and not _ok("sve2", host)


@pytest.mark.parametrize(("dmi", "virt", "cloud"), [
    ({"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine",
      "chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77"}, "hyperv", "azure"),
    ({"sys_vendor": "Google", "product_name": "Google Compute Engine"}, "kvm", "gcp"),
    ({"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"}, "kvm", ""),
    ({"sys_vendor": "VMware, Inc.", "product_name": "VMware Virtual Platform"}, "vmware", ""),
    ({"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R750"}, "none", ""),
])
def test_virtualization_and_cloud_from_dmi(tmp_path, dmi, virt, cloud):
    root = write_tree(tmp_path / "r", {f"/sys/class/dmi/id/{k}": v + "\n" for k, v in dmi.items()})
    f = _probe(root, tmp_path).facts
    assert f["virtualization"] == virt and f.get("cloud", "") == cloud
    assert f["container"] == "none" and "cloud-instance-type" not in f


def test_kubernetes_and_podman_markers(tmp_path):
    root = write_tree(tmp_path / "r", {"/run/.containerenv": ""})
    assert _probe(root, tmp_path).facts["container"] == "podman"
    src = Source(root=tmp_path / "r", env={"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    from dtf_ci.hw.system import container

    assert container(src) == "kubernetes"


def test_an_empty_root_still_gives_the_required_facts(tmp_path):
    """No procfs, no sysfs (a locked-down sandbox): the probe degrades, never raises."""
    root = tmp_path / "nothing"
    root.mkdir()
    host = _probe(root, tmp_path)
    assert host.facts["cpu-count"] == "1" and host.facts["os"] == "linux"
    assert "cpu" in host.labels and len(host.fingerprint) == 16


def test_labels_name_gpu_count_and_accelerators():
    labels = derive_labels({"os": "linux", "arch": "x86_64", "gpu": "nvidia", "gpu-model": "h100",
                            "gpu-count": "8", "cuda": "12.4", "tpu": "true"})
    assert {"gpu-h100", "gpu-count-8", "cuda-12.4", "tpu"} <= set(labels)


@given(st.sets(st.integers(min_value=0, max_value=300)))
def test_cpu_list_round_trips_any_set(cpus):
    # Write the set in the kernel's range form, then read it back.
    parts, run = [], []
    for c in sorted(cpus):
        if run and c == run[-1] + 1:
            run.append(c)
        else:
            if run:
                parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = [c]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    assert cpu.parse_cpu_list(",".join(parts)) == sorted(cpus)


@given(st.floats(min_value=0.01, max_value=512, allow_nan=False))
def test_quota_rounds_up_to_whole_cpus(quota):
    n = cgroup.cpus_from_quota(quota)
    assert n is not None and n >= 1 and n - 1 < quota + 1e-9 and (n >= quota - 1e-9)


@given(st.text(max_size=400))
def test_cpuinfo_parser_never_raises(text):
    blocks = cpu.parse_cpuinfo(text)
    ident = cpu.identity(blocks)
    assert isinstance(ident["model"], str) and isinstance(ident["flags"], list)
