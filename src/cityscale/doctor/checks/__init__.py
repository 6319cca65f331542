"""The doctor's checks, one package per layer; every module here is imported by the registry."""
