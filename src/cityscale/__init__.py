"""cityscale: a read-heavy cities JSON API and the kit that deploys, watches, diagnoses and load-verifies it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cityscale")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
