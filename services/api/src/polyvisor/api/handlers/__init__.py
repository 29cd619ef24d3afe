"""gRPC servicers: thin, they validate and convert, call the domain, convert back."""
