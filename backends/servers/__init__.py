"""One module per server kind, llama-server process management, the lms runner, the registry, the generated models."""
