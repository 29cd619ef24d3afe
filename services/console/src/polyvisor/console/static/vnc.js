// The console proxy's own page: noVNC on this proxy's WebSocket, from the same origin. Its
// address carries the server and a single-use token (the api's page_url, what
// `openstack console url show` prints); the proxy logs in to the VNC server with the
// session's password, which this page never sees. The token opens one session: a closed
// console needs a new URL.
//
// noVNC is imported here, not at the top: a module that fails to load (a browser aborts its
// requests when the host's network changes: net::ERR_NETWORK_CHANGED) would leave a blank
// page. The page is loaded again instead, up to RETRIES times; the token is still unspent
// (only the WebSocket spends it).
const screen = document.getElementById("screen");
const status = document.getElementById("status");
const RETRIES = 5;
const key = `console-page-loads:${location.pathname}${location.search}`;
let RFB;
try {
  ({ default: RFB } = await import("./novnc/core/rfb.js"));
  sessionStorage.removeItem(key);
} catch (e) {
  const tried = Number(sessionStorage.getItem(key) || "0");
  if (tried < RETRIES) {
    sessionStorage.setItem(key, String(tried + 1));
    status.textContent = `the console did not load; trying again (${tried + 1}/${RETRIES})`;
    setTimeout(() => location.reload(), 500 * (tried + 1));
  } else {
    status.textContent = `the console did not load: ${e}`;
  }
}
if (RFB) {
  const asked = new URLSearchParams(location.search);
  const ws = new URL("websockify", location.href); // beside this page, prefix and all
  ws.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  ws.search = new URLSearchParams({
    server_id: asked.get("server_id") || "",
    token: asked.get("token") || "",
  }).toString();
  const rfb = new RFB(screen, ws.href, { wsProtocols: ["binary"], shared: true });
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => {
    status.textContent = "connected";
    screen.dataset.connected = "1";
  });
  rfb.addEventListener("disconnect", (e) => {
    screen.dataset.connected = "0";
    status.textContent = e.detail.clean
      ? "disconnected"
      : "the console closed: ask for a new console URL (each opens one session)";
  });
  rfb.addEventListener("desktopname", (e) => {
    status.textContent = `connected: ${e.detail.name}`;
  });
  window.polyvisorConsole = rfb;
}
