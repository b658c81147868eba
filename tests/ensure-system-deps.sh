#!/bin/sh
# Install what the suite drives for real when it is missing: Debian's Chromium (with CJK fonts, so
# screenshots show Chinese), PostgreSQL 15 server binaries, poppler-utils (the reports' PDFs read back), nginx, curl and systemd-analyze
# (tests/deploy/). Only root can install; others get told.
set -eu
need=""
[ -x /usr/bin/chromium ] || need="$need chromium"
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need="$need fonts-noto-cjk"
# The reports' PDFs are read back with pdftotext and pdffonts.
command -v pdftotext >/dev/null 2>&1 || need="$need poppler-utils"
# WeasyPrint draws the PDFs with Pango.
ldconfig -p 2>/dev/null | grep -q "libpango-1.0" || need="$need libpango-1.0-0 libpangoft2-1.0-0"
# tests/deploy/: the shipped nginx site served for real (HTTP/2 checked with curl), the units rated by systemd-analyze.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need="$need nginx"
command -v curl >/dev/null 2>&1 || need="$need curl"
command -v systemd-analyze >/dev/null 2>&1 || need="$need systemd"
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need="$need postgresql"
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing:$need"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
else
  echo "note: missing$need — the tests that need them will be skipped with a reason (install them as root)" >&2
fi
