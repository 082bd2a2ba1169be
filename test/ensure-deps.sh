#!/bin/sh
# Installs the Debian packages the build needs, or says which command does.
# Usage: ensure-deps.sh PACKAGE... (each given as package:probe, where probe is
# a pkg-config module, a command prefixed with "cmd/", or a shell script
# prefixed with "sh/" that succeeds when the package is there).
missing=
for spec in "$@"; do
    pkg=${spec%%:*}
    probe=${spec#*:}
    case $probe in
    cmd/*) command -v "${probe#cmd/}" >/dev/null 2>&1 && continue ;;
    sh/*) sh "${probe#sh/}" >/dev/null 2>&1 && continue ;;
    *) pkg-config --exists "$probe" 2>/dev/null && continue ;;
    esac
    missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    sudo=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
else
    echo "samsa: missing packages; run: sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "samsa: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q$missing >/dev/null 2>&1 ||
    { $sudo apt-get update -q >/dev/null 2>&1 &&
      $sudo apt-get install -y -q$missing >/dev/null; } ||
    { echo "samsa: could not install; run: sudo apt-get install -y$missing" >&2; exit 1; }
