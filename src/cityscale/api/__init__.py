"""The HTTP API: a Starlette app served by granian (docs/adr/0001-http-stack.md)."""
