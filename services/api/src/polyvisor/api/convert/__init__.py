"""Protobuf <-> domain conversions (protobuf types stop here, in handlers and in bus)."""
