"""What the browsers on this machine offer a web benchmark: WebGPU, WebNN and WebGL.

``dtf hw --browsers`` launches each installed browser headless through playwright, opens an
empty page on a secure origin (served by playwright itself, so no network is used: WebGPU
exists only in secure contexts), and asks ``navigator.gpu``, ``navigator.ml`` and WebGL.
Chromium is tried first with the flags a CI runner needs (``--enable-unsafe-webgpu`` and
Vulkan, which also enable SwiftShader's software adapter on a machine without a GPU); when
that gives no adapter it is retried with SwiftShader forced. A browser that offers no
WebGPU is reported as ``available: false`` with the browser's own reason.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

ORIGIN = "https://dtf-hw.invalid/"
LAUNCH_TIMEOUT_MS = 30_000
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
BASE_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run"]
GPU_ARGS = ["--enable-unsafe-webgpu", "--enable-features=Vulkan,WebMachineLearningNeuralNetwork"]
SWIFTSHADER_ARGS = [*GPU_ARGS, "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
                    "--use-webgpu-adapter=swiftshader"]
LIMITS = ("maxBufferSize", "maxStorageBufferBindingSize", "maxComputeWorkgroupStorageSize",
          "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX", "maxTextureDimension2D",
          "maxBindGroups")

#: Runs in the page; returns plain JSON. Every failure becomes a reason string.
PROBE_JS = """async (limitNames) => {
  const out = {userAgent: navigator.userAgent, secureContext: window.isSecureContext,
               webgpu: {available: false}, webnn: {available: false}, webgl: {}};
  if (!('gpu' in navigator)) {
    out.webgpu.reason = 'navigator.gpu is undefined (WebGPU is off in this browser or build)';
  } else {
    try {
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) {
        out.webgpu.reason = 'navigator.gpu.requestAdapter() returned null (no GPU adapter and no software fallback)';
      } else {
        const info = adapter.info || {};
        out.webgpu.available = true;
        out.webgpu.adapter = {vendor: info.vendor || '', architecture: info.architecture || '',
                              device: info.device || '', description: info.description || ''};
        const fb = info.isFallbackAdapter !== undefined ? info.isFallbackAdapter : adapter.isFallbackAdapter;
        out.webgpu.fallback = fb === undefined ? null : !!fb;
        out.webgpu.features = Array.from(adapter.features).sort();
        out.webgpu.limits = {};
        for (const k of limitNames) { if (adapter.limits[k] !== undefined) out.webgpu.limits[k] = adapter.limits[k]; }
      }
    } catch (e) { out.webgpu.reason = 'navigator.gpu.requestAdapter() failed: ' + e; }
  }
  if (!('ml' in navigator)) {
    out.webnn.reason = 'navigator.ml is undefined (WebNN is off in this browser or build)';
  } else {
    try { await navigator.ml.createContext(); out.webnn.available = true; }
    catch (e) { out.webnn.reason = 'navigator.ml.createContext() failed: ' + e; }
  }
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl2') || canvas.getContext('webgl');
  if (gl) {
    const dbg = gl.getExtension('WEBGL_debug_renderer_info');
    out.webgl = {version: gl.getParameter(gl.VERSION),
                 vendor: dbg ? gl.getParameter(dbg.UNMASKED_VENDOR_WEBGL) : gl.getParameter(gl.VENDOR),
                 renderer: dbg ? gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)};
  } else { out.webgl = {reason: 'no WebGL context'}; }
  return out;
}"""


def chromium_path(explicit: str | None = None) -> str | None:
    """The Chromium to launch: ``--chromium``, ``$DTF_CHROMIUM``, a system Chromium, or None
    (then playwright's own download, where ``playwright install chromium`` put one)."""
    for candidate in (explicit, os.environ.get("DTF_CHROMIUM"), *CHROMIUM_CANDIDATES):
        if candidate and (os.path.isfile(candidate) or shutil.which(candidate)):
            return candidate
    return None


def _ask(browser: Any) -> dict[str, Any]:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.route(ORIGIN + "**", lambda route: route.fulfill(
            status=200, content_type="text/html", body="<!doctype html><title>dtf hw</title>"))
        page.goto(ORIGIN, timeout=LAUNCH_TIMEOUT_MS)
        result: dict[str, Any] = page.evaluate(PROBE_JS, list(LIMITS))
        return result
    finally:
        context.close()


def _chromium(pw: Any, executable: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {"executable": executable or "playwright"}
    for args, label in ((GPU_ARGS, "gpu"), (SWIFTSHADER_ARGS, "swiftshader")):
        browser = pw.chromium.launch(executable_path=executable, args=[*BASE_ARGS, *args], headless=True,
                                     timeout=LAUNCH_TIMEOUT_MS)
        try:
            info["version"] = browser.version
            found = _ask(browser)
        finally:
            browser.close()
        found["flags"] = label
        info.update(found)
        if found.get("webgpu", {}).get("available"):
            break
    return info


def _other(pw: Any, name: str) -> dict[str, Any] | None:
    """Firefox or WebKit when playwright has them installed; None when it does not."""
    try:
        browser = getattr(pw, name).launch(headless=True, timeout=LAUNCH_TIMEOUT_MS)
    except Exception as exc:  # "Executable doesn't exist": not installed here, not an error
        if "Executable doesn't exist" in str(exc) or "playwright install" in str(exc):
            return None
        return {"error": str(exc).splitlines()[0]}
    try:
        info = {"version": browser.version, **_ask(browser)}
    finally:
        browser.close()
    return info


def probe_browsers(chromium: str | None = None) -> dict[str, Any]:
    """Per browser name: version, WebGPU, WebNN, WebGL; ``error`` where a browser would not run."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"error": "playwright is not installed (pip install playwright; then a Chromium: "
                         "Debian's chromium package or `playwright install chromium`)"}
    out: dict[str, Any] = {}
    with sync_playwright() as pw:
        executable = chromium_path(chromium)
        try:
            out["chromium"] = _chromium(pw, executable)
        except Exception as exc:  # a broken browser install is reported, not raised
            out["chromium"] = {"error": f"chromium ({executable or 'playwright'}) did not start: "
                                        f"{str(exc).splitlines()[0]}"}
        for name in ("firefox", "webkit"):
            other = _other(pw, name)
            if other is not None:
                out[name] = other
    return out
