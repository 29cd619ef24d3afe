"""The console proxy: a browser's WebSocket to a server's VNC, behind a single-use token."""
