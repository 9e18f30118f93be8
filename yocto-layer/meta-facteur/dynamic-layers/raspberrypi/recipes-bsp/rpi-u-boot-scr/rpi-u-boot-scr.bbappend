# Facteur's U-Boot boot script for the Raspberry Pi 4 / CM4: A/B slot choice
# with boot counting for RAUC's uboot backend, kernel from the slot.
FILESEXTRAPATHS:prepend:facteur := "${THISDIR}/files:"
