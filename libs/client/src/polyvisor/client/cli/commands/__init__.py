"""One module per command group; each has `register(groups, output_parent)`."""
