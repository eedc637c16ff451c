#!/usr/bin/env bash
# The throw-away PostgreSQL cluster the store tests share under ctest (a
# fixture): start STATE PORT | stop STATE. Debian's postgresql package; as
# root the server runs as the unprivileged "postgres" user. No system
# service. The cluster lives in a new directory under /tmp (the build tree
# may sit where that user cannot go); STATE (in the build tree) names it.
set -euo pipefail
cmd="$1"; state="$2"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
[ -x "$bin/initdb" ] || { echo "no PostgreSQL server installed (Debian package postgresql)" >&2; exit 1; }
as=()
[ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
cd /
case "$cmd" in
  start)
    port="$3"
    "$0" stop "$state" 2>/dev/null || true
    dir="$(mktemp -d /tmp/plinth-pg-XXXXXX)"
    chmod 755 "$dir"
    [ ${#as[@]} -eq 0 ] || chown postgres "$dir"
    echo "$dir" > "$state"
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U plinth -A trust -E UTF8 --no-sync > "$dir/initdb.log"
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=300" start > /dev/null
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir)"
    ;;
  stop)
    [ -f "$state" ] || exit 0
    dir="$(cat "$state")"
    if [ -d "$dir/data" ]; then
      "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop > /dev/null || true
    fi
    rm -rf "$dir" "$state"
    ;;
esac
