#!/usr/bin/env bash
# Runs once, from /docker-entrypoint-initdb.d, when the primary's data directory is first created:
# the role the replica streams WAL as, the physical slot it streams through (so the primary keeps
# the WAL a briefly stopped replica still needs), and the pg_hba.conf line that lets it in.
set -euo pipefail

: "${POSTGRES_REPLICATION_PASSWORD:?set POSTGRES_REPLICATION_PASSWORD}"
slot="${REPLICATION_SLOT:-replica_1}"

# Values go through psql variables, quoted by format(%L), never spliced into SQL by the shell.
psql -v ON_ERROR_STOP=1 -v pw="$POSTGRES_REPLICATION_PASSWORD" -v slot="$slot" \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
SELECT format('CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD %L', :'pw') \gexec
SELECT pg_create_physical_replication_slot(:'slot');
SQL

echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
