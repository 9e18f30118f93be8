# Kernel options the appliance relies on (verity bundles, the board's
# devices, the hardware watchdog).
FILESEXTRAPATHS:prepend:facteur := "${THISDIR}/files:"
SRC_URI:append:facteur = " file://facteur.cfg"
