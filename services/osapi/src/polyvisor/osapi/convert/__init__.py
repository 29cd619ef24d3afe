"""Protobuf messages to the OpenStack APIs' JSON, and back."""
