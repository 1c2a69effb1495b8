#!/usr/bin/env bash
# Installs code-server 4.99.4 (a full VS Code workbench served to a browser)
# from the npm registry into DEST, offline apart from the registries: the
# extension's end-to-end test runs it in headless Chromium. Safe to run
# again: it does nothing when DEST already holds a working install.
#   scripts/install-code-server.sh DEST
set -euo pipefail
dest=${1:?usage: install-code-server.sh DEST}
version=4.99.4
bin="$dest/node_modules/code-server/out/node/entry.js"
if [ -f "$dest/.installed-$version" ] && [ -f "$bin" ]; then
	exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
need=()
for p in ripgrep chromium libkrb5-dev libxkbfile-dev libsecret-1-dev libx11-dev pkg-config python3 make g++; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
	echo "install-code-server: apt-get install ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
rm -rf "$dest"
mkdir -p "$dest"
cd "$dest"
npm init -y >/dev/null
echo "install-code-server: npm install code-server@$version" >&2
npm install --no-audit --no-fund "code-server@$version" --ignore-scripts >&2
# argon2 is loaded at start-up even with --auth none; its prebuilt download
# would reach outside the registry, so it is built from source.
npm rebuild argon2 --build-from-source >&2
# code-server's postinstall, by hand (its own fetches ripgrep from GitHub).
cd node_modules/code-server/lib/vscode
npm install --no-audit --no-fund --omit=dev --ignore-scripts >&2
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
npm_config_yes=true npm rebuild >&2
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sfn code-linux.sh code-server)
(cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
(cd extensions && npm install --no-audit --no-fund --omit=dev >&2)
touch "$dest/.installed-$version"
echo "install-code-server: $dest" >&2
