# %postun of upkeep (.rpm); $1: 0 on erase, 1 on upgrade. As
# %systemd_postun_with_restart: on upgrade, restart the service if it runs.
# On erase, remove what the daemon created and the directories the package
# filled (cargo-generate-rpm cannot mark directories as owned). Run by rpm as
# root; fixed paths only.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -ge 1 ] && [ -x /usr/bin/systemctl ]; then
    systemctl try-restart upkeep.service >/dev/null 2>&1 || :
fi
if [ "$1" -eq 0 ]; then
    rm -rf /var/cache/upkeep /run/upkeep
    for d in /usr/lib/upkeep/plugins /usr/lib/upkeep /usr/share/upkeep/wit /usr/share/upkeep \
        /usr/share/doc/upkeep/examples/modules-load.d /usr/share/doc/upkeep/examples \
        /usr/share/doc/upkeep /usr/share/licenses/upkeep /etc/upkeep; do
        rmdir "$d" 2>/dev/null || :
    done
fi
