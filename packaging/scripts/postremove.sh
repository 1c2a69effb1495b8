#!/bin/sh
# dsecore: on purge (Debian) or erase (rpm: $1 = 0) the agent's state and
# cache go; the dsecore user stays (it may own files elsewhere).
set -e
case "$1" in
purge | 0)
	rm -rf /var/lib/dsecore /var/cache/dsecore
	;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
