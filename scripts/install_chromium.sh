#!/usr/bin/env bash
# Install what renders the run report headless: Debian's chromium (the report test prints its DOM and takes a
# screenshot) and one small CJK font (fonts-wqy-microhei, ~5 MB) so that Chinese text renders in the
# screenshot and the charts can carry Chinese labels. Idempotent: does nothing when both are there.
#
#   bash scripts/install_chromium.sh          # as root (CI, the demo machine); otherwise prints the command
#
# Without chromium the report is still built; only the headless-rendering test is skipped, saying why.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
FONT_PACKAGE=fonts-wqy-microhei

have_chromium() { [ -x "$CHROMIUM" ]; }
have_cjk_font() { command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]; }

if have_chromium && have_cjk_font; then
  echo "install_chromium: $("$CHROMIUM" --version 2>/dev/null || echo chromium) and a CJK font are installed"
  exit 0
fi

packages=()
have_chromium || packages+=(chromium)
have_cjk_font || packages+=("$FONT_PACKAGE" fontconfig)

if [ "$(id -u)" != "0" ]; then
  echo "install_chromium: not root; to render the run report headless, run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages[*]}" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_chromium: no apt-get on this machine; install chromium and a CJK font by hand" >&2
  exit 0
fi

echo "install_chromium: installing ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
"$CHROMIUM" --version
fc-list :lang=zh family | head -n 3
