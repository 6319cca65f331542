#!/usr/bin/env bash
# Bound the disk Docker uses for build cache and images no container needs any more.
# Run by docker-prune.timer (systemd) or the cron line in docker-prune.cron; safe to run by hand.
#
#   DOCKER_PRUNE_BUILD_CACHE_AGE   build cache unused for this long is removed   (default 168h)
#   DOCKER_PRUNE_IMAGE_AGE         unused images created this long ago are removed (default 240h)
#   DOCKER_PRUNE_KEEP_STORAGE      build cache kept at most, newest first          (default 10GB)
#
# Never touches volumes (the databases live there) nor images a container, running or stopped, uses.
set -euo pipefail

build_cache_age="${DOCKER_PRUNE_BUILD_CACHE_AGE:-168h}"
image_age="${DOCKER_PRUNE_IMAGE_AGE:-240h}"
keep_storage="${DOCKER_PRUNE_KEEP_STORAGE:-10GB}"

if ! command -v docker >/dev/null 2>&1; then
  echo "docker-prune: docker is not installed; nothing to do" >&2
  exit 0
fi

echo "docker-prune: before"
docker system df

# Build cache not used for a week; then whatever is still above the cap, oldest first.
docker builder prune --force --filter "until=${build_cache_age}"
docker builder prune --force --keep-storage "${keep_storage}"

# Images no container uses, created more than ten days ago (a rollback target stays around that long).
docker image prune --all --force --filter "until=${image_age}"

echo "docker-prune: after"
docker system df
