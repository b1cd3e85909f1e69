#!/bin/sh
# Runs once, when the postgres container initialises its data directory
# (/docker-entrypoint-initdb.d). Creates the databases the compose stack uses:
#   postgres     CDC source (cdc-bridge source.dsn) and admin's database
#   warehouse    warehouse-sink (warehouse.dsn) and the admin's queries; distributed with Citus when the image has it
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<-SQL
	CREATE DATABASE warehouse;
SQL
if psql --username "$POSTGRES_USER" --dbname warehouse -c "CREATE EXTENSION IF NOT EXISTS citus;" 2>/dev/null; then
  echo "postgres-init: warehouse uses Citus"
else
  echo "postgres-init: no Citus in this image; warehouse is plain PostgreSQL"
fi
