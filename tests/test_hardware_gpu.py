"""GPU and accelerator probes through stand-ins: a fake NVML module in sys.modules, stand-in
nvidia-smi / rocm-smi / xpu-smi / sysctl / system_profiler on PATH, fake sysfs trees.

No GPU is used: these are the test of the NVIDIA path until one runs on real hardware.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from dtf_ci.hardware import probe_host
from dtf_ci.hw import nvidia
from dtf_ci.hw.source import Source
from dtf_ci.requirements import parse_requirement
from tests.hw_fakes import fake_nvml, h100, stand_in, write_tree


def _src(tmp_path: Path, env: dict[str, str] | None = None) -> Source:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    return Source(root=root, path=str(bin_dir), env=env or {})


def _ok(req: str, host) -> bool:
    return parse_requirement(req).check(frozenset(host.labels), host.facts) is None


def test_nvml_from_sys_modules_gives_the_full_device_state(tmp_path, monkeypatch):
    fake = fake_nvml([h100(mask=0x1 | 0x4), h100(app=1980, mask=0x1 | 0x2)])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    host = probe_host(_src(tmp_path), system="Linux", arch="x86_64", amdsmi=None, hostname="gpu-box")
    f = host.facts
    assert (f["gpu"], f["gpu-count"], f["gpu-model"], f["gpu-memory-gb"]) == ("nvidia", "2", "h100", "80")
    assert (f["cuda"], f["compute-capability"], f["nvidia-driver"]) == ("12.4", "9.0", "550.54.15")
    assert f["gpu-clocks-locked"] == "false"  # only the second GPU is locked
    assert f["gpu-throttle-reasons"] == "applications_clocks_setting,sw_power_cap"  # idle is left out
    assert (f["gpu-ecc"], f["gpu-persistence"], f["gpu-mig"]) == ("true", "true", "false")
    assert (f["gpu-pcie-gen"], f["gpu-pcie-width"], f["gpu-nvlink-links"]) == ("5", "16", "18")
    assert (f["gpu-sm-clock-mhz"], f["gpu-sm-clock-max-mhz"], f["gpu-power-limit-w"]) == ("345", "1980", "700")
    assert {"gpu", "nvidia", "gpu-h100", "gpu-count-2", "cuda-12.4"} <= set(host.labels)
    gpus = host.details["gpus"]
    assert [g["clocks_locked"] for g in gpus] == [False, True] and gpus[0]["source"] == "nvml"
    assert gpus[0]["throttle_reasons"] == ["gpu_idle", "sw_power_cap"]
    assert fake.calls[0] == "init" and fake.calls[-1] == "shutdown"
    for ok in ("gpu", "nvidia", "gpu-h100", "compute-capability>=8.0", "gpu-count>=2", "cuda>=12",
               "vram>=80g", "gpu-ecc", "gpu-count-2"):
        assert _ok(ok, host), ok
    for bad in ("gpu-clocks-locked", "compute-capability>=10", "gpu-mig", "gpu-count>=4"):
        assert not _ok(bad, host), bad


def test_nvml_counts_mig_instances(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml([h100(mig=3), h100()]))
    f = probe_host(_src(tmp_path), system="Linux", arch="x86_64", amdsmi=None).facts
    assert f["gpu-mig"] == "true" and f["gpu-mig-instances"] == "3"


SMI_FULL = """\
case "$*" in
  *--query-gpu=index,name*)
    echo "0, NVIDIA A100-SXM4-80GB, GPU-aaaa, 81920, 535.129.03, 8.0, Enabled, 400.00, 1410, 1410, 1410, 1275, 0x0000000000000002, Enabled, Enabled, 4, 16"
    echo "1, NVIDIA A100-SXM4-80GB, GPU-bbbb, 81920, 535.129.03, 8.0, Disabled, 400.00, 210, 1410, 1410, 1275, 0x0000000000000005, Enabled, Enabled, 4, 16" ;;
  "-L")
    echo "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-aaaa)"
    echo "  MIG 3g.40gb     Device  0: (UUID: MIG-1111)"
    echo "  MIG 3g.40gb     Device  1: (UUID: MIG-2222)"
    echo "GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-bbbb)" ;;
  "nvlink -s")
    echo "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-aaaa)"
    echo "	 Link 0: 25 GB/s"
    echo "	 Link 1: 25 GB/s"
    echo "GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-bbbb)"
    echo "	 Link 0: <inactive>" ;;
  *)
    echo "| NVIDIA-SMI 535.129.03             Driver Version: 535.129.03   CUDA Version: 12.2     |" ;;
esac
"""


def test_nvidia_smi_fallback_when_nvml_is_absent(tmp_path):
    src = _src(tmp_path)
    stand_in(Path(str(src.path)), "nvidia-smi", SMI_FULL)
    host = probe_host(src, system="Linux", arch="x86_64", nvml=None, amdsmi=None)
    f = host.facts
    assert (f["gpu-model"], f["gpu-count"], f["gpu-memory-gb"], f["cuda"]) == ("a100", "2", "80", "12.2")
    assert f["compute-capability"] == "8.0" and f["gpu-mig"] == "true" and f["gpu-mig-instances"] == "2"
    assert f["gpu-clocks-locked"] == "true"  # both: app clocks set / applications_clocks_setting active
    assert f["gpu-throttle-reasons"] == "applications_clocks_setting,sw_power_cap"
    gpus = host.details["gpus"]
    assert [g["nvlink_active"] for g in gpus] == [2, 0] and gpus[1]["sm_clock_mhz"] == 210
    assert all(g["source"] == "nvidia-smi" for g in gpus)


def test_nvml_that_cannot_start_falls_back_to_nvidia_smi(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml([], fail_init=True))
    src = _src(tmp_path)
    stand_in(Path(str(src.path)), "nvidia-smi", SMI_FULL)
    assert probe_host(src, system="Linux", arch="x86_64", amdsmi=None).facts["gpu-model"] == "a100"


def test_old_driver_that_rejects_new_fields_gets_the_minimal_query(tmp_path):
    src = _src(tmp_path)
    stand_in(Path(str(src.path)), "nvidia-smi", """\
case "$*" in
  *compute_cap*) echo 'Field "compute_cap" is not a valid field to query.' >&2; exit 2 ;;
  *--query-gpu*) echo "Tesla T4, 15360, 470.57.02" ;;
  *) echo "| NVIDIA-SMI 470.57.02    Driver Version: 470.57.02    CUDA Version: 11.4     |" ;;
esac
""")
    host = probe_host(src, system="Linux", arch="x86_64", nvml=None, amdsmi=None)
    assert (host.facts["gpu-model"], host.facts["gpu-memory-gb"], host.facts["cuda"]) == ("t4", "15", "11.4")
    assert "gpu-throttle-reasons" not in host.facts and "compute-capability" not in host.facts
    assert any("exited 2" in n and "compute_cap" in n for n in host.details["notes"])


def test_a_hanging_tool_is_cut_off_and_noted(tmp_path, monkeypatch):
    monkeypatch.setattr("dtf_ci.hw.source.TOOL_TIMEOUT_S", 0.5)
    src = _src(tmp_path)
    stand_in(Path(str(src.path)), "nvidia-smi", "exec sleep 30\n")
    host = probe_host(src, system="Linux", arch="x86_64", nvml=None, amdsmi=None)
    assert "gpu" not in host.facts and "cpu" in host.labels
    assert any("did not answer" in n for n in host.details["notes"])


@pytest.mark.parametrize(("mask", "names"), [
    (0x0, []), (0x1, ["gpu_idle"]), (0x4 | 0x40, ["sw_power_cap", "hw_thermal_slowdown"]),
    (0x1000, ["0x1000"]),
])
def test_throttle_mask_names(mask, names):
    assert nvidia.throttle_names(mask) == names


ROCM_JSON = {
    "card0": {"Card Series": "AMD Instinct MI300X", "Card Model": "0x74a1", "Card Vendor": "Advanced Micro Devices, Inc. [AMD/ATI]",
              "VRAM Total Memory (B)": str(192 * 2**30), "GFX Version": "gfx942"},
    "system": {"Driver version": "6.7.0"},
}


def test_amd_through_rocm_smi_json(tmp_path):
    src = _src(tmp_path)
    write_tree(src.root, {"/opt/rocm/.info/version": "6.2.1-112\n"})
    stand_in(Path(str(src.path)), "rocm-smi", f"cat <<'EOF'\n{json.dumps(ROCM_JSON)}\nEOF\n")
    host = probe_host(src, system="Linux", arch="x86_64", nvml=None, amdsmi=None)
    f = host.facts
    assert (f["gpu"], f["gpu-count"], f["gpu-model"], f["gpu-memory-gb"], f["rocm"]) == (
        "amd", "1", "mi300x", "192", "6.2.1")  # the "system" key is not a card
    assert {"gpu-mi300x", "amd", "rocm-6.2.1", "gpu-count-1"} <= set(host.labels)


def test_amd_through_the_amdsmi_module(tmp_path):
    mod = types.ModuleType("amdsmi")
    mod.amdsmi_init = lambda: None  # type: ignore[attr-defined]
    mod.amdsmi_shut_down = lambda: None  # type: ignore[attr-defined]
    mod.amdsmi_get_processor_handles = lambda: ["h0", "h1"]  # type: ignore[attr-defined]
    mod.amdsmi_get_gpu_asic_info = lambda h: {"market_name": "AMD Instinct MI250X"}  # type: ignore[attr-defined]
    mod.amdsmi_get_gpu_vram_info = lambda h: {"vram_size": 65536}  # type: ignore[attr-defined]
    f = probe_host(_src(tmp_path), system="Linux", arch="x86_64", nvml=None, amdsmi=mod).facts
    assert (f["gpu-model"], f["gpu-count"], f["gpu-memory-gb"]) == ("mi250x", "2", "64")


def test_intel_gpus_from_sysfs_integrated_apart(tmp_path):
    src = _src(tmp_path)
    pci = "/sys/devices/pci0000:00"
    write_tree(src.root, {
        f"{pci}/0000:00:02.0/vendor": "0x8086\n", f"{pci}/0000:00:02.0/device": "0xa7a0\n",
        f"{pci}/0000:03:00.0/vendor": "0x8086\n", f"{pci}/0000:03:00.0/device": "0x56a0\n",
        "/sys/bus/pci/drivers/xe/.keep": "",
    }, links={
        "/sys/class/drm/card0/device": str(src.root / f"{pci.lstrip('/')}/0000:00:02.0"),
        "/sys/class/drm/card1/device": str(src.root / f"{pci.lstrip('/')}/0000:03:00.0"),
        f"{pci}/0000:03:00.0/driver": str(src.root / "sys/bus/pci/drivers/xe"),
    })
    host = probe_host(src, system="Linux", arch="x86_64", nvml=None, amdsmi=None)
    assert (host.facts["gpu"], host.facts["gpu-count"], host.facts["igpu"]) == ("intel", "1", "intel")
    assert host.details["gpus"][0]["driver"] == "xe"


def test_intel_through_xpu_smi(tmp_path):
    src = _src(tmp_path)
    doc = {"device_list": [{"device_id": 0, "device_name": "Intel(R) Data Center GPU Max 1550"}]}
    stand_in(Path(str(src.path)), "xpu-smi", f"cat <<'EOF'\n{json.dumps(doc)}\nEOF\n")
    f = probe_host(src, system="Linux", arch="x86_64", nvml=None, amdsmi=None).facts
    assert f["gpu"] == "intel" and f["gpu-name"] == "Intel(R) Data Center GPU Max 1550"


def test_tpu_and_npu_where_the_system_shows_them(tmp_path):
    src = _src(tmp_path, env={"TPU_ACCELERATOR_TYPE": "v5litepod-4"})
    write_tree(src.root, {
        **{f"/sys/bus/pci/devices/0000:00:0{i}.0/vendor": "0x1ae0\n" for i in range(4, 8)},
        **{f"/sys/bus/pci/devices/0000:00:0{i}.0/class": "0x120000\n" for i in range(4, 8)},
        "/sys/bus/pci/devices/0000:00:03.0/vendor": "0x1ae0\n",  # Google's gVNIC, not a TPU
        "/sys/bus/pci/devices/0000:00:03.0/class": "0x020000\n",
        "/dev/vfio/0": "",
        "/sys/bus/pci/drivers/intel_vpu/.keep": "",
    }, links={"/sys/class/accel/accel0/device/driver": str(src.root / "sys/bus/pci/drivers/intel_vpu")})
    host = probe_host(src, system="Linux", arch="x86_64", nvml=None, amdsmi=None)
    f = host.facts
    assert (f["tpu"], f["tpu-count"], f["tpu-type"]) == ("true", "4", "v5litepod-4")
    assert (f["npu"], f["npu-count"]) == ("intel", "1")
    assert {"tpu", "npu"} <= set(host.labels) and host.details["accelerators"]["tpu"]["device_files"] == "vfio"
    assert _ok("tpu", host) and _ok("npu==intel", host) and not _ok("gpu", host)


def test_apple_silicon_through_sysctl_and_system_profiler(tmp_path):
    src = _src(tmp_path)
    stand_in(Path(str(src.path)), "sysctl", """\
echo "machdep.cpu.brand_string: Apple M2 Max"
echo "hw.physicalcpu: 12"
echo "hw.logicalcpu: 12"
echo "hw.l1dcachesize: 65536"
echo "hw.l2cachesize: 4194304"
echo "hw.optional.arm.FEAT_BF16: 1"
""")
    profile = {"SPDisplaysDataType": [{"sppci_model": "Apple M2 Max", "sppci_cores": "38",
                                       "spdisplays_vendor": "sppci_vendor_Apple"}]}
    stand_in(Path(str(src.path)), "system_profiler", f"cat <<'EOF'\n{json.dumps(profile)}\nEOF\n")
    host = probe_host(src, system="Darwin", arch="arm64", nvml=None, amdsmi=None, affinity=12)
    f = host.facts
    assert (f["os"], f["cpu-model"], f["cpu-count"], f["cpu-physical-cores"]) == ("macos", "Apple M2 Max", "12", "12")
    assert (f["gpu"], f["gpu-model"], f["gpu-cores"], f["gpu-unified-memory"]) == ("apple", "m2-max", "38", "true")
    assert f["neon"] == "true" and f["bf16"] == "true" and f["cpu-cache-l2-kb"] == "4096"
    assert {"macos", "arm64", "gpu", "apple", "gpu-m2-max"} <= set(host.labels)


def test_the_real_nvml_bindings_on_this_machine():
    """nvidia-ml-py itself: on a machine without an NVIDIA driver NVML cannot start and the probe
    says None (then nvidia-smi is asked); on a GPU machine this is the real NVIDIA path."""
    pynvml = pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed")
    devices = nvidia.probe_nvml(pynvml)
    if devices is None:
        return
    assert devices, "NVML started but listed no device"
    for dev in devices:
        assert dev["name"] and dev["memory_mib"] > 0 and dev["source"] == "nvml"
        assert dev["compute_capability"] and dev["compute_capability"].count(".") == 1
        assert dev["cuda"] and dev["driver"]
        assert isinstance(dev["throttle_reasons"], list) and dev["clocks_locked"] in (True, False, None)
