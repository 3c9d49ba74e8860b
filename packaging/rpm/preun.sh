# %preun of upkeep (.rpm); $1: 0 on erase, 1 on upgrade. As %systemd_preun:
# on erase, disable and stop (a Master resigns with priority 0 and removes
# its addresses). Run by rpm as root.
if [ "$1" -eq 0 ] && [ -x /usr/bin/systemctl ]; then
    systemctl --no-reload disable --now upkeep.service >/dev/null 2>&1 || :
fi
