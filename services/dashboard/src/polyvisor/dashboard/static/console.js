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
  rfb.addEventListener("connect", () => {
    status.textContent = "connected";
    screen.dataset.connected = "1";
  });
  rfb.addEventListener("disconnect", (e) => {
    status.textContent = e.detail.clean ? "disconnected" : "the console closed";
    screen.dataset.connected = "0";
  });
  rfb.addEventListener("desktopname", (e) => {
    status.textContent = `connected: ${e.detail.name}`;
  });
  window.polyvisorConsole = rfb;
}
