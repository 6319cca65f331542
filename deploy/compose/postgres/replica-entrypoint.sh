#!/usr/bin/env bash
# Entrypoint of the streaming replica (compose.yaml, service postgres-replica).
# On an empty data directory: clone the primary with `pg_basebackup -R` (which writes
# standby.signal and primary_conninfo) through the replication slot the primary created at init
# (primary-init.sh), so the primary keeps the WAL this replica still needs. Then hand over to the
# official image's entrypoint, which sees a populated data directory, skips initdb and starts
# PostgreSQL as a hot standby.
set -euo pipefail

: "${PRIMARY_HOST:?set PRIMARY_HOST to the service name of the primary}"
: "${POSTGRES_REPLICATION_PASSWORD:?set POSTGRES_REPLICATION_PASSWORD}"
# PostgreSQL 18 images set PGDATA=/var/lib/postgresql/18/docker; older ones /var/lib/postgresql/data.
: "${PGDATA:?the postgres image sets PGDATA}"
slot="${REPLICATION_SLOT:-replica_1}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "replica: cloning ${PRIMARY_HOST} into ${PGDATA} through slot ${slot}" >&2
  mkdir -p "$PGDATA"
  # A clone interrupted half-way leaves files without PG_VERSION; pg_basebackup needs an empty dir.
  find "$PGDATA" -mindepth 1 -delete
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  # The password travels in the environment (PGPASSWORD), never on the command line.
  PGPASSWORD="$POSTGRES_REPLICATION_PASSWORD" gosu postgres \
    pg_basebackup --host="$PRIMARY_HOST" --username=replicator --pgdata="$PGDATA" \
      --write-recovery-conf --wal-method=stream --slot="$slot" --checkpoint=fast
fi

exec docker-entrypoint.sh "$@"
