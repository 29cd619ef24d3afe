"""The dashboard: server-rendered pages over the public gRPC APIs, with the logged-in user's
token."""
