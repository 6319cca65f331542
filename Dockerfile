# syntax=docker/dockerfile:1
# The cityscale API image: `docker build -t cityscale .` then `docker run -p 3000:3000 cityscale`.
# Two stages: the builder resolves the locked dependencies with uv into /app/.venv; the final stage
# copies only that virtualenv onto a slim Python, so no compiler, uv or cache reaches production.

ARG PYTHON_VERSION=3.12

FROM ghcr.io/astral-sh/uv:0.9.26 AS uv

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
# A C toolchain, for the dependencies that publish no wheel for one of the platforms release.yml builds
# (hdrhistogram has none for arm64): uv builds those from their sdist here. This stage is never shipped.
# Versions are the base image's Debian release, not pinned one by one (DL3008).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY --from=uv /uv /usr/local/bin/uv
# Bytecode compiled at build time (faster start); copy, not hardlink, out of uv's cache mount;
# the interpreter of the base image, never a downloaded one, so the final stage can run the venv.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first, from the lockfile alone: this layer stays cached until uv.lock changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --no-install-project
COPY pyproject.toml uv.lock README.md NOTICE ./
COPY src ./src
# --no-editable: the project is installed into the venv, so the final stage needs no source tree.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

FROM python:${PYTHON_VERSION}-slim-bookworm
# What the build is: release.yml passes the commit sha and the release version. CITYSCALE_COMMIT is
# read at run time for the `cityscale_build_info{commit=...}` metric; both label the image (OCI labels).
ARG CITYSCALE_COMMIT=unknown
ARG CITYSCALE_VERSION=dev
LABEL org.opencontainers.image.title="cityscale" \
      org.opencontainers.image.description="Read-heavy cities JSON API" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${CITYSCALE_COMMIT}" \
      org.opencontainers.image.version="${CITYSCALE_VERSION}"
# A numeric user (no name lookup needed, and Kubernetes' runAsNonRoot can verify it).
RUN groupadd --system --gid 10001 cityscale \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin cityscale
COPY --from=builder --chown=10001:10001 /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CITYSCALE_COMMIT="${CITYSCALE_COMMIT}"
WORKDIR /app
USER 10001:10001
EXPOSE 3000
# Liveness only (/healthz checks no dependency), with the image's own Python: no curl in a slim image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=2).status != 200)"]
# Exec form: cityscale itself is PID 1 (no shell in between), so SIGTERM from `docker stop` reaches it.
ENTRYPOINT ["cityscale"]
CMD ["serve", "--host", "0.0.0.0", "--port", "3000"]
