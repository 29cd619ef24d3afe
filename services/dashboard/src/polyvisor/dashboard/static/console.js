// The console tab: noVNC (vendored from Debian's novnc package) on the console proxy's
// WebSocket. The URL carries a single-use token; the proxy logs in to the VNC server with
// the session's password, which this page never sees.
//
// A console that does not open is tried again by loading the page again (a new token), up
// to RETRIES times, a little later each time; once connected, the count starts over. So is
// a page whose noVNC did not load: it is imported here, not at the top, because a module
// that fails to load (a browser aborts its requests when the host's network changes:
// net::ERR_NETWORK_CHANGED) would otherwise leave the tab blank.
const screen = document.getElementById("screen");
const status = document.getElementById("console-status");
const url = screen.dataset.url;
const RETRIES = 5;
const key = `console-retries:${location.pathname}`;
const tried = Number(sessionStorage.getItem(key) || "0");

function again(why) {
  if (tried >= RETRIES) return false;
  sessionStorage.setItem(key, String(tried + 1));
  status.textContent = `${why}; trying again (${tried + 1}/${RETRIES})`;
  setTimeout(() => location.reload(), 1000 * (tried + 1));
  return true;
}

let RFB;
try {
  ({ default: RFB } = await import("./vendor/novnc/core/rfb.js"));
} catch (e) {
  if (!again("the console did not load")) status.textContent = `the console did not load: ${e}`;
}
if (!url) {
  status.textContent = "no console proxy configured";
} else if (RFB) {
  const rfb = new RFB(screen, url, { wsProtocols: ["binary"], shared: true });
  rfb.scaleViewport = true;
  rfb.viewOnly = false;
  let connected = false;
  rfb.addEventListener("connect", () => {
    connected = true;
    sessionStorage.removeItem(key);
    status.textContent = "connected";
    screen.dataset.connected = "1";
  });
  rfb.addEventListener("disconnect", (e) => {
    screen.dataset.connected = "0";
    if (!connected && again("the console did not open")) return;
    status.textContent = e.detail.clean ? "disconnected" : "the console closed";
  });
  rfb.addEventListener("desktopname", (e) => {
    status.textContent = `connected: ${e.detail.name}`;
  });
  window.polyvisorConsole = rfb;
}
