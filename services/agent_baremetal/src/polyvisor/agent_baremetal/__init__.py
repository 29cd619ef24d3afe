"""Polyvisor bare-metal agent: enrolled machines driven over Redfish."""
