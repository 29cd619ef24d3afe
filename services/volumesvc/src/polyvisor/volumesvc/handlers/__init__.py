"""The volume service's gRPC servicers."""
