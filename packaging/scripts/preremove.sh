#!/bin/sh
# dsecore: stop the agent's units before their files go.
set -e
if [ -d /run/systemd/system ]; then
	for u in dsecore-agent.service dsecore-agent.path dsecore-agent.timer dsecore-agent-once.service; do
		systemctl disable --now "$u" >/dev/null 2>&1 || true
	done
fi
