#!/bin/sh
# dsecore: the system user the agent's analyses run as, and the agent's
# directories (its state root's, its work directory the analyses').
set -e
if ! getent passwd dsecore >/dev/null; then
	if command -v adduser >/dev/null 2>&1 && adduser --help 2>&1 | grep -q -- --system; then
		adduser --system --group --home /var/lib/dsecore --no-create-home --shell /usr/sbin/nologin \
			--gecos "dsecore core analysis" dsecore >/dev/null
	else
		groupadd -r dsecore 2>/dev/null || true
		useradd -r -g dsecore -d /var/lib/dsecore -M -s /sbin/nologin -c "dsecore core analysis" dsecore
	fi
fi
install -d -m 0755 -o root -g root /var/lib/dsecore /var/cache/dsecore
install -d -m 0700 -o root -g root /var/lib/dsecore/agent
install -d -m 0700 -o dsecore -g dsecore /var/cache/dsecore/agent
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
echo "dsecore: the node agent is installed, not started. Edit /etc/dsecore/dsecore.yaml, then:"
echo "  systemctl enable --now dsecore-agent.service   (or dsecore-agent.path / dsecore-agent.timer for one pass at a time)"
