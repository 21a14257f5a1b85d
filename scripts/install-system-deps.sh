#!/usr/bin/env bash
# Installs the Debian packages napari needs to render headless (Xvfb + Mesa OpenGL + Qt's xcb deps),
# and those of the interop tests: Orthanc with its DICOMweb plugin (a real DICOMweb server, started
# by the tests on a free port) and dicom3tools (dciodvfy validates the SEG and SR we write).
# Used by .ci/run; run it once as root (or with sudo) on a fresh Debian/Ubuntu machine. Idempotent:
# when everything is present it only checks (dpkg -s) and exits.
set -euo pipefail
PKGS="xvfb xauth libgl1 libegl1 libgl1-mesa-dri libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 \
libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 \
libxcb-xfixes0 libdbus-1-3 libfontconfig1 orthanc orthanc-dicomweb dicom3tools"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
# the orthanc package enables a system service; the tests start their own server, so keep the
# service stopped where a service manager exists (harmless where none does, e.g. containers)
if echo "$missing" | grep -q orthanc; then
  $SUDO systemctl disable --now orthanc >/dev/null 2>&1 || true
fi
