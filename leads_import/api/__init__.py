"""The HTTP API of SPEC section 9: FastAPI over the same engine as every other entry point."""
