#!/usr/bin/env bash
# System tools the monitoring tests need, from Debian packages:
#   prometheus             -> prometheus, promtool
#   prometheus-alertmanager -> prometheus-alertmanager (Debian's name for `alertmanager`), amtool
#   chromium               -> chromium (headless screenshots of the QA review pages)
#   fonts-wqy-microhei     -> a small CJK font (5 MB), so Chinese transcripts render as text,
#                             not as empty boxes, in those screenshots and in reviewers' browsers
#   gcc, python3.11-dev    -> a C compiler and the interpreter's headers, for the compiled SLA
#                             core (streams/core/build.py; without them pure Python runs)
#
# Idempotent: does nothing when the binaries are already on PATH. Installs only what is missing,
# runs `apt-get update` only when it has something to install, uses sudo only when not root.
# Never leaves a service running: package post-install scripts are told not to start daemons
# (policy-rc.d), and any prometheus/alertmanager service that started anyway is stopped.
# The tests start their own instances on free loopback ports.
set -euo pipefail

log() { printf 'install-system: %s\n' "$*"; }

have() { command -v "$1" >/dev/null 2>&1; }

packages=()
if ! have prometheus || ! have promtool; then
    packages+=(prometheus)
fi
if ! have amtool || { ! have alertmanager && ! have prometheus-alertmanager; }; then
    packages+=(prometheus-alertmanager)
fi
if ! have chromium; then
    packages+=(chromium)
fi
if [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then
    packages+=(fonts-wqy-microhei)
fi

if ! have cc && ! have gcc; then
    packages+=(gcc)
fi
# The headers of the interpreter the project's venv is made from (the Makefile's choice).
PY=${PY:-$(command -v python3.11 || command -v python3 || true)}
if [ -n "$PY" ] && ! "$PY" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    packages+=("$(basename "$PY")-dev")
fi

if [ "${#packages[@]}" -eq 0 ]; then
    log "prometheus, promtool, alertmanager, amtool, chromium, a CJK font, a C compiler and Python headers already installed; nothing to do"
    exit 0
fi

if ! have apt-get; then
    log "missing: ${packages[*]} and no apt-get here; install Prometheus and Alertmanager"
    log "(prometheus, promtool, alertmanager, amtool) and chromium with your system's package manager"
    exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then
        SUDO=(sudo)
    else
        log "not root and no sudo: cannot install ${packages[*]}"
        exit 1
    fi
fi

# Keep the packages' post-install scripts from starting daemons (Debian's policy-rc.d
# convention, exit code 101 = "action forbidden"). Only when no policy is in place already;
# the temporary one is removed again on exit.
POLICY=/usr/sbin/policy-rc.d
added_policy=0
cleanup() {
    if [ "$added_policy" -eq 1 ]; then
        "${SUDO[@]}" rm -f "$POLICY"
    fi
}
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
    log "temporarily forbidding service starts ($POLICY)"
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    added_policy=1
fi

log "apt-get update"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
log "apt-get install ${packages[*]} (without recommends: no node exporter)"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${packages[@]}"

# Belt and braces: if a service manager started the daemons anyway, stop them.
for svc in prometheus prometheus-alertmanager; do
    if have systemctl && [ -d /run/systemd/system ]; then
        if systemctl is-active --quiet "$svc" 2>/dev/null; then
            log "stopping service $svc started by the package"
            "${SUDO[@]}" systemctl stop "$svc" || true
        fi
    elif have service && [ -x "/etc/init.d/$svc" ]; then
        if "${SUDO[@]}" service "$svc" status >/dev/null 2>&1; then
            log "stopping service $svc started by the package"
            "${SUDO[@]}" service "$svc" stop || true
        fi
    fi
done

for bin in prometheus promtool amtool; do
    have "$bin" || { log "still missing after install: $bin"; exit 1; }
done
have alertmanager || have prometheus-alertmanager || { log "still missing after install: alertmanager"; exit 1; }
have chromium || { log "still missing after install: chromium"; exit 1; }
log "installed: $(prometheus --version 2>&1 | head -n1)"
log "installed: $( (have alertmanager && alertmanager --version || prometheus-alertmanager --version) 2>&1 | head -n1)"
log "installed: $(chromium --version 2>/dev/null | head -n1)"
