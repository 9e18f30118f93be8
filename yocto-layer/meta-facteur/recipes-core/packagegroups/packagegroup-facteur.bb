SUMMARY = "What runs on the Facteur appliance"
DESCRIPTION = "The daemon and the web admin, the card reader stack, time, \
updates, and the mounts of the data and boot partitions."
LICENSE = "MIT"

inherit packagegroup

# avahi-daemon is left out on purpose: facteur-web announces facteur.local
# and its HTTPS service itself (web-admin/src/mdns.rs); a second mDNS
# responder on the same box would contest the name (facteur-2.local).
RDEPENDS:${PN} = "ccid \
                   chrony \
                   facteur \
                   facteur-base \
                   facteur-web \
                   pcsc-lite \
                   rauc \
                   rauc-service \
"
