# %postun of upkeep (.rpm); $1: 0 on erase, 1 on upgrade. As
# %systemd_postun_with_restart, except that a running service re-executes
# the new binary in place (`upkeepctl reexec`: a Master keeps its VIPs)
# rather than restart; try-restart when that is refused.
# On erase, remove what the daemon created (the package's own directories
# are in its %files, so rpm removes them). Run by rpm as root; fixed paths
# only.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -ge 1 ] && [ -x /usr/bin/systemctl ]; then
    if systemctl --quiet is-active upkeep.service; then
        upkeepctl reexec >/dev/null 2>&1 ||
            systemctl try-restart upkeep.service >/dev/null 2>&1 || :
    fi
fi
if [ "$1" -eq 0 ]; then
    rm -rf /var/cache/upkeep /run/upkeep /var/lib/upkeep
fi
