"""Facts about hosts: the models, the pure parsers of tool output, and the remote collector."""
