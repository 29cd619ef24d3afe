"""Polyvisor volume service (contract polyvisor.volume.v1)."""
