"""gRPC servicers: validate, convert, call the domain, convert back."""
