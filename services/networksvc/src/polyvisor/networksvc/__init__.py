"""Polyvisor network service: networks, subnets, ports with atomic IPAM, security groups."""
