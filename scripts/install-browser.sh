#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium (for the connection-form browser test) only when no
# Chromium is on the machine yet. Needs root (CI runs as root); prints the browser's path.
set -euo pipefail
for candidate in "${HUBTIX_CHROMIUM:-}" chromium chromium-browser; do
  if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
    command -v "$candidate"
    exit 0
  fi
done
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium >&2
command -v chromium
