#!/usr/bin/env bash
# Makes sure NATS (with JetStream) and PostgreSQL answer before Kiln starts or tests run.
# Starts them where they are installed and down; with --install, installs them from
# Debian's packages when missing (CI). Otherwise says exactly how to get them.
set -u
install=0
[ "${1:-}" = "--install" ] && install=1

nats_host=127.0.0.1; nats_port=4222
pg_host=127.0.0.1; pg_port=5432

up() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_up() {
  for _ in $(seq 1 100); do up "$1" "$2" && return 0; sleep 0.1; done
  return 1
}

if [ -n "${NATS_URL:-}" ] && [[ "$NATS_URL" != *127.0.0.1:4222* && "$NATS_URL" != *localhost:4222* ]]; then
  echo "infra: using NATS_URL=$NATS_URL"
elif up $nats_host $nats_port; then
  echo "infra: NATS answers on $nats_host:$nats_port"
else
  if ! command -v nats-server >/dev/null 2>&1 && [ -x /usr/sbin/nats-server ]; then PATH="$PATH:/usr/sbin"; fi
  if ! command -v nats-server >/dev/null 2>&1; then
    if [ $install = 1 ]; then
      echo "infra: installing nats-server from Debian's packages"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
    else
      echo "infra: NATS is not running and nats-server is not installed." >&2
      echo "       Install it (Debian/Ubuntu: sudo apt-get install nats-server), or run 'docker compose up nats'," >&2
      echo "       or point NATS_URL at a NATS server with JetStream enabled (-js)." >&2
      exit 1
    fi
  fi
  store=/var/lib/nats-server; mkdir -p "$store" 2>/dev/null || store="${TMPDIR:-/tmp}/kiln-nats"; mkdir -p "$store"
  echo "infra: starting nats-server with JetStream (store $store)"
  if command -v start-stop-daemon >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- -a $nats_host -p $nats_port -js -sd "$store" -l "${TMPDIR:-/tmp}/nats-server.log"
  else
    nohup nats-server -a $nats_host -p $nats_port -js -sd "$store" >"${TMPDIR:-/tmp}/nats-server.log" 2>&1 &
  fi
  wait_up $nats_host $nats_port || { echo "infra: nats-server did not come up; see ${TMPDIR:-/tmp}/nats-server.log" >&2; exit 1; }
fi

if [ -n "${DATABASE_URL:-}" ] && [[ "$DATABASE_URL" != *127.0.0.1:5432* && "$DATABASE_URL" != *localhost:5432* ]]; then
  echo "infra: using DATABASE_URL (not checked here)"
elif up $pg_host $pg_port; then
  echo "infra: PostgreSQL answers on $pg_host:$pg_port"
else
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    if [ $install = 1 ]; then
      echo "infra: installing PostgreSQL from Debian's packages"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      v=$(ls /etc/postgresql | head -1)
      sed -i 's/^\(local\|host\)\(.*\)\(peer\|scram-sha-256\|md5\)$/\1\2trust/' /etc/postgresql/$v/main/pg_hba.conf
    else
      echo "infra: PostgreSQL is not running and not installed." >&2
      echo "       Install it (Debian/Ubuntu: sudo apt-get install postgresql), or run 'docker compose up postgres'," >&2
      echo "       or set DATABASE_URL=postgres://user:pass@host:5432/db" >&2
      exit 1
    fi
  fi
  v=$(ls /etc/postgresql | head -1)
  echo "infra: starting PostgreSQL $v"
  pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || pg_ctlcluster "$v" main start
  wait_up $pg_host $pg_port || { echo "infra: PostgreSQL did not come up" >&2; exit 1; }
  psql -h $pg_host -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 || \
    psql -h $pg_host -U postgres -c "CREATE DATABASE test" >/dev/null 2>&1 || true
fi
