"""gRPC handlers of the scheduler."""
