# %post of upkeep (.rpm); $1: 1 on install, 2 on upgrade. What systemd's
# %sysusers_create, %tmpfiles_create and %systemd_post macros do. Run by rpm
# as root.
if [ -x /usr/bin/systemd-sysusers ]; then
    systemd-sysusers /usr/lib/sysusers.d/upkeep.conf || :
elif ! getent passwd upkeep >/dev/null; then
    useradd -r -d /nonexistent -s /sbin/nologin -c "upkeep health checks" upkeep || :
fi
if [ -x /usr/bin/systemd-tmpfiles ]; then
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/upkeep.conf || :
fi
if [ -d /run/systemd/system ]; then
    # EL has a file trigger for this; other rpm hosts do not.
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ] && [ -x /usr/bin/systemctl ]; then
    # First install: enabled or not as the presets say (EL: disabled).
    systemctl --no-reload preset upkeep.service >/dev/null 2>&1 || :
fi
