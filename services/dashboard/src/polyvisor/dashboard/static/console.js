// The console tab: noVNC (vendored from Debian's novnc package) on the console proxy's
// WebSocket. The URL carries a single-use token; the proxy logs in to the VNC server with
// the session's password, which this page never sees.
import RFB from "./vendor/novnc/core/rfb.js";

const screen = document.getElementById("screen");
const status = document.getElementById("console-status");
const url = screen.dataset.url;
if (!url) {
  status.textContent = "no console proxy configured";
} else {
  const rfb = new RFB(screen, url, { wsProtocols: ["binary"], shared: true });
  rfb.scaleViewport = true;
  rfb.viewOnly = false;
  // A console that closes before it ever connected (the host still setting the session's
  // password, a proxy restarting) is tried again with a new token: the page is loaded again,
  // up to RETRIES times, a little later each time. Once connected, the count starts over.
  const RETRIES = 5;
  const key = `console-retries:${location.pathname}`;
  const tried = Number(sessionStorage.getItem(key) || "0");
  let connected = false;
  rfb.addEventListener("connect", () => {
    connected = true;
    sessionStorage.removeItem(key);
    status.textContent = "connected";
    screen.dataset.connected = "1";
  });
  rfb.addEventListener("disconnect", (e) => {
    screen.dataset.connected = "0";
    if (!connected && tried < RETRIES) {
      sessionStorage.setItem(key, String(tried + 1));
      status.textContent = `the console did not open; trying again (${tried + 1}/${RETRIES})`;
      setTimeout(() => location.reload(), 1000 * (tried + 1));
      return;
    }
    status.textContent = e.detail.clean ? "disconnected" : "the console closed";
  });
  rfb.addEventListener("desktopname", (e) => {
    status.textContent = `connected: ${e.detail.name}`;
  });
  window.polyvisorConsole = rfb;
}
