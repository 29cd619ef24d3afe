"""The dashboard in a real browser (Debian's chromium, driven by Playwright) on the whole
stack started as `./dev up` starts it: log in, both hypervisor types with each cluster's
ESXi hosts, an image uploaded with its progress bar, a KVM and a VMware server created from
the form and seen ACTIVE without reloading, the KVM server's console in noVNC showing the
boot sector's line (its red band read off the canvas's pixels), in the dashboard and on
the console proxy's own page opened from the gateway's novnc URL alone, an impossible create
explained per filter, both servers deleted. Screenshots of the main pages go to
docs/screenshots/ when POLYVISOR_SCREENSHOTS=1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import stack as stack_mod
from tests.e2e.stack import Stack
from tests.fixtures.screen_boot import screen_boot_sector

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WAIT_MS = 240_000
NOVNC = "**/novnc/core/rfb.js"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: ./dev installs it (APT_PACKAGES)")
    given = os.environ.get("POLYVISOR_TEST_STACK_HOME")  # a stack already up (iterating)
    home = Path(given) if given else Path(tempfile.mkdtemp(prefix="polyvisor-dash-"))
    home.chmod(0o755)
    s = stack_mod.start(home)
    try:
        assert "dashboard" in s.endpoints, s.up_output[-3000:]
        yield s
    finally:
        # A failed run's servers: their domains must not outlive the stack.
        with contextlib.suppress(Exception):
            stack_mod.destroy_libvirt_domains(s.libvirt_uri, s.created)
        if not given:
            stack_mod.stop(home)
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
async def page(stack: Stack) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = await browser.new_context(viewport={"width": 1360, "height": 900})
        p = await context.new_page()
        p.set_default_timeout(60_000)
        p.on("console", lambda m: BROWSER_LOG.append(f"console.{m.type}: {m.text}"))
        p.on("requestfailed", lambda r: BROWSER_LOG.append(f"failed: {r.url} {r.failure}"))
        p.on("websocket", lambda ws: BROWSER_LOG.append(f"websocket: {ws.url}"))
        try:
            yield p
        finally:
            await context.close()
            await browser.close()


BROWSER_LOG: list[str] = []  # the page's console messages and failed requests


def _agent_logs(stack: Stack) -> list[str]:
    return sorted(
        p.stem for p in (stack.home / "logs").glob("*.log") if "agent" in p.stem or "kvm" in p.stem
    )


async def shot(page: Any, name: str) -> None:
    if os.environ.get("POLYVISOR_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def see_the_guest_on_the_console(page: Any, stack: Stack) -> None:
    """noVNC connected (#screen's data-connected, set by both console pages' scripts) and the
    boot sector's red line read off its canvas's pixels. When it never connects, the failure
    carries what the page said and what the console proxy, the api and the agents logged."""
    try:
        await page.wait_for_selector("#screen[data-connected='1']", timeout=WAIT_MS)
    except Exception as e:
        status = await page.evaluate(
            "() => document.querySelector('#console-status, #status')?.textContent ?? '(no status)'"
        )
        logs = "\n".join(
            f"--- {name}.log\n{stack.log_tail(name, 60)}"
            for name in ("console", "dashboard", "api", *_agent_logs(stack))
        )
        raise AssertionError(
            f"the console never connected: {status!r}\nbrowser said:\n"
            + "\n".join(BROWSER_LOG[-40:])
            + f"\n{logs}"
        ) from e
    red = 0
    for _ in range(120):
        red = await page.evaluate(
            """() => { const c = document.querySelector('#screen canvas');
              if (!c || !c.width) return 0;
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              let n = 0;
              for (let i = 0; i < d.length; i += 4)
                if (d[i] > 128 && d[i + 1] < 80 && d[i + 2] < 80) n++;
              return n; }"""
        )
        if red >= 1000:
            break
        await page.wait_for_timeout(1000)
    assert red >= 1000, f"the boot sector's red line is not on the console ({red} red pixels)"


async def fail_novnc_once(page: Any) -> list[str]:
    """The page's next load of noVNC fails, as a browser's requests do when the host's
    network changes (net::ERR_NETWORK_CHANGED): the page must load itself again. The URLs
    asked for, to assert on."""
    seen: list[str] = []

    async def handler(route: Any) -> None:
        seen.append(route.request.url)
        await (route.abort("failed") if len(seen) == 1 else route.continue_())

    await page.route(NOVNC, handler)
    return seen


def gateway_console_url(stack: Stack, server_id: str) -> str:
    """What `openstack console url show` prints: the gateway's novnc remote console, asked
    with the admin's Keystone token."""
    auth_url = stack.endpoints["osapi"]["auth_url"]
    a = stack.admin
    scope = {"project": {"name": a["project"], "domain": {"name": "Default"}}}
    user = {"name": a["username"], "domain": {"name": "Default"}, "password": a["password"]}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                     "scope": scope}}  # fmt: skip
    req = urllib.request.Request(
        f"{auth_url}/auth/tokens", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as r:
        token = r.headers["X-Subject-Token"]
    compute = auth_url.removesuffix("/identity/v3") + "/compute/v2.1"
    req = urllib.request.Request(
        f"{compute}/servers/{server_id}/remote-consoles",
        data=json.dumps({"remote_console": {"protocol": "vnc", "type": "novnc"}}).encode(),
        headers={"Content-Type": "application/json", "X-Auth-Token": token,
                 "OpenStack-API-Version": "compute 2.6"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as r:
        return str(json.loads(r.read())["remote_console"]["url"])


def setup_flavors(stack: Stack) -> None:
    """Flavors are an admin's catalogue: made with the CLI, as an operator does."""
    a = stack.admin
    r = stack.cli(
        "login", "--username", a["username"], f"--password={a['password']}",
        "--project", a["project"],
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    for args in (
        ("flavor", "create", "dash.tiny", "--vcpus", "1", "--ram", "64", "--disk", "1"),
        # within the quota, and the cluster's total, but above any single ESXi host's RAM
        ("flavor", "create", "dash.big", "--vcpus", "1", "--ram", "8192", "--disk", "1"),
    ):
        r = stack.cli(*args)
        assert r.returncode == 0 or "ALREADY_EXISTS" in r.stderr, r.stderr


async def test_the_operator_story_in_a_browser(stack: Stack, page: Any, tmp_path: Path) -> None:
    base = stack.endpoints["dashboard"]["url"]
    admin = stack.admin
    setup_flavors(stack)

    # Log in.
    await page.goto(f"{base}/")
    assert page.url.endswith("/login")
    await page.fill("input[name=username]", admin["username"])
    await page.fill("input[name=password]", admin["password"])
    await page.fill("input[name=project]", admin["project"])
    await page.click("form[action='/login'] button")
    await page.wait_for_url(f"{base}/")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["polyvisor_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"

    # Overview: both hypervisor types, each cluster with its ESXi hosts, capacity bars.
    await page.wait_for_selector("#type-vmware")
    assert await page.locator("#type-kvm, #type-qemu").count() == 1
    # read here, on the overview: the KVM host's type (TCG reports qemu) for the create form below
    kvm_type = "qemu" if await page.locator("#type-qemu").count() else "kvm"
    clusters = stack.endpoints["vcsim"]["clusters"]
    for cluster in clusters:
        card = page.locator(".host", has_text=cluster)
        assert await card.locator("tr.esxi-host").count() == 3, cluster
        assert await card.locator(".bar").count() == 3
    await shot(page, "overview")

    # A POST without the CSRF token is refused (the cookie alone is not enough).
    status = await page.evaluate(
        """async () => (await fetch('/servers', {method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'},
            body: 'name=x&image_id=y&flavor_id=z'})).status"""
    )
    assert status == 403

    # Upload an image: the boot sector that writes on the screen, 8 MiB of raw disk, with
    # the progress bar moving.
    disk = tmp_path / "screen.raw"
    disk.write_bytes(screen_boot_sector().ljust(8 << 20, b"\0"))
    await page.goto(f"{base}/images")
    await page.fill("#upload input[name=name]", "screen")
    await page.select_option("#upload select[name=disk_format]", "raw")
    await page.set_input_files("#upload input[type=file]", str(disk))
    await page.click("#upload button")
    await page.wait_for_selector("#uploaded", timeout=WAIT_MS)
    assert "ACTIVE" in await page.inner_text("#uploaded")
    seen = await page.get_attribute("#upload-progress", "data-seen")
    assert seen and int(seen.rstrip(",").split(",")[-1]) == 100, seen
    assert await page.get_attribute("#upload-progress", "value") == "100"
    await shot(page, "images")

    # Create a KVM server and a VMware server from the form; both reach ACTIVE on the
    # servers page without a reload (the Watch stream, as Server-Sent Events).
    ids: dict[str, str] = {}
    for name, hv in (("dash-kvm", kvm_type), ("dash-vmw", "vmware")):
        await page.goto(f"{base}/servers")
        await page.fill("#create-server input[name=name]", name)
        await page.select_option("#create-server select[name=image_id]", label="screen (RAW)")
        await page.select_option(
            "#create-server select[name=flavor_id]", label="dash.tiny: 1 vCPU, 64 MiB, 1 GiB"
        )
        await page.select_option("#create-server select[name=hypervisor_type]", hv)
        await page.click("#create-server button")
        await page.wait_for_url(f"{base}/servers/*")
        ids[name] = page.url.rsplit("/", 1)[-1]
        stack.created.add(ids[name])
    await page.goto(f"{base}/servers")
    marker = await page.evaluate("() => (window.__noReload = Math.random())")
    for sid in ids.values():
        await page.wait_for_selector(f"#srv-{sid} .c-state .s-active", timeout=WAIT_MS)
    assert await page.evaluate("() => window.__noReload") == marker  # never reloaded
    await shot(page, "servers")

    # The KVM server's console: noVNC through the proxy; the guest's red line on the canvas.
    # Its first load of noVNC fails: the tab loads itself again (a new token) and connects.
    loads = await fail_novnc_once(page)
    await page.goto(f"{base}/servers/{ids['dash-kvm']}/console")
    await see_the_guest_on_the_console(page, stack)
    await page.unroute(NOVNC)
    assert len(loads) >= 2, loads
    await shot(page, "console")

    # The same console from its address alone, as `openstack console url show` prints it:
    # the gateway's novnc console is the console proxy's own page (http, same origin as its
    # WebSocket), which a browser opens with no dashboard.
    url = await asyncio.to_thread(gateway_console_url, stack, ids["dash-kvm"])
    proxy_page = stack.endpoints["console"]["url"].replace("ws://", "http://", 1) + "/vnc.html?"
    assert url.startswith(proxy_page), url
    loads = await fail_novnc_once(page)  # and so does this page, with its unspent token
    await page.goto(url)
    await see_the_guest_on_the_console(page, stack)
    await page.unroute(NOVNC)
    assert len(loads) >= 2 and all(u.startswith(proxy_page.split("/vnc.html")[0]) for u in loads)

    # An impossible create: the scheduler's explanation, per filter, as a table.
    await page.goto(f"{base}/servers")
    await page.fill("#create-server input[name=name]", "dash-impossible")
    await page.select_option("#create-server select[name=image_id]", label="screen (RAW)")
    await page.select_option(
        "#create-server select[name=flavor_id]", label="dash.big: 1 vCPU, 8192 MiB, 1 GiB"
    )
    await page.select_option("#create-server select[name=hypervisor_type]", "vmware")
    await page.click("#create-server button")
    await page.wait_for_url(f"{base}/servers/*")
    impossible = page.url.rsplit("/", 1)[-1]
    await page.wait_for_selector("#explanation tbody tr", timeout=WAIT_MS)
    table = await page.inner_text("#explanation")
    assert "esxi" in table.lower(), table  # no single ESXi host has the RAM
    assert await page.locator("#explanation-summary").inner_text()
    await shot(page, "explanation")

    # Delete all three from their pages; each page shows DELETED when the host is done
    # (live), and the list no longer has them.
    for sid in (*ids.values(), impossible):
        await page.goto(f"{base}/servers/{sid}")
        page.once("dialog", lambda d: d.accept())
        await page.click("#delete-server")
        await page.wait_for_selector("#server-state[data-state='DELETED']", timeout=WAIT_MS)
    await page.goto(f"{base}/servers")
    for sid in (*ids.values(), impossible):
        assert await page.locator(f"#srv-{sid}").count() == 0
