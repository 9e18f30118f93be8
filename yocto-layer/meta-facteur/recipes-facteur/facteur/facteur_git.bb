# nooelint: oelint.var.mandatoryvar.HOMEPAGE - the project has no public web site; the source is FACTEUR_GIT_URI
SUMMARY = "Facteur: the practice's gateway to MSSanté secure health messaging"
DESCRIPTION = "The facteur daemon: local SMTP submission and IMAP for the \
practice's LAN, durable queue, delivery to the MSSanté operator over mutual \
TLS signed by the CPS card, the board (LED, button, display, watchdog) and \
RAUC updates."

require recipes-facteur/facteur-source.inc
require ${BPN}-crates.inc

CARGO_BUILD_FLAGS += "-p facteur-gateway"

SRC_URI += "file://facteur.service \
    file://facteur.toml \
    file://facteur-tmpfiles.conf \
    file://facteur-networkd.conf \
    file://80-facteur-lan.network \
    file://50-facteur-networkd.rules \
    file://facteur-rauc.conf \
    file://70-facteur-board.rules \
"

inherit systemd useradd

# The product reference registered with ANS, for the X-MSS-NIL header
# ([mssante] nil). Required: set it in the distro or kas file.
FACTEUR_NIL ??= ""
# Files from the build host (absolute paths), installed under
# /usr/share/facteur/: the MSSanté domain whitelist (listeblanchemssante.xml,
# as ANS publishes it) and the IGC-Santé CA certificates (PEM).
FACTEUR_WHITELIST_FILE ??= ""
FACTEUR_TRUST_ANCHORS_FILE ??= ""
# The LAN interface the web admin may readdress, and the board description
# (board/descriptions/<name>.toml) the daemon drives.
FACTEUR_LAN_INTERFACE ??= "end0"
FACTEUR_LAN_INTERFACE:qemux86-64 ??= "enp0s3"
FACTEUR_BOARD ??= "generic"
FACTEUR_FLEET_SERVER ??= ""
FACTEUR_UPDATE_WINDOW ??= "02:00-05:00"
FACTEUR_BOARD:raspberrypi4-64 ??= "rpi4-cm4"

do_install[file-checksums] += "${@' '.join('%s:True' % f for f in (d.getVar('FACTEUR_WHITELIST_FILE'), d.getVar('FACTEUR_TRUST_ANCHORS_FILE')) if f)}"
do_install[vardeps] += "FACTEUR_NIL FACTEUR_LAN_INTERFACE FACTEUR_BOARD FACTEUR_FLEET_SERVER FACTEUR_UPDATE_WINDOW DISTRO_VERSION"

do_install:append() {
    if [ -z "${FACTEUR_NIL}" ] || [ ! -f "${FACTEUR_WHITELIST_FILE}" ] || [ ! -f "${FACTEUR_TRUST_ANCHORS_FILE}" ]; then
        bbfatal "set FACTEUR_NIL, FACTEUR_WHITELIST_FILE and FACTEUR_TRUST_ANCHORS_FILE (docs/building-the-image.md)"
    fi

    install -d ${D}${sysconfdir}/facteur
    sed -e 's|@FACTEUR_NIL@|${FACTEUR_NIL}|' \
        -e 's|@FACTEUR_LAN_INTERFACE@|${FACTEUR_LAN_INTERFACE}|' \
        -e 's|@FACTEUR_BOARD@|${FACTEUR_BOARD}|' \
        -e 's|@FACTEUR_IMAGE_VERSION@|${DISTRO_VERSION}|' \
        -e 's|@FACTEUR_UPDATE_WINDOW@|${FACTEUR_UPDATE_WINDOW}|' \
        -e '${@'/# fleet$/d' if not d.getVar('FACTEUR_FLEET_SERVER') else 's|@FACTEUR_FLEET_SERVER@|%s|' % d.getVar('FACTEUR_FLEET_SERVER')}' \
        ${UNPACKDIR}/facteur.toml > ${D}${sysconfdir}/facteur/facteur.toml
    chmod 0644 ${D}${sysconfdir}/facteur/facteur.toml

    install -d ${D}${datadir}/facteur/boards
    install -m 0644 ${S}/board/descriptions/*.toml ${D}${datadir}/facteur/boards/
    install -m 0644 ${FACTEUR_WHITELIST_FILE} ${D}${datadir}/facteur/listeblanchemssante.xml
    install -m 0644 ${FACTEUR_TRUST_ANCHORS_FILE} ${D}${datadir}/facteur/igc-sante-ca.pem

    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${UNPACKDIR}/facteur.service ${D}${systemd_system_unitdir}/

    install -d ${D}${nonarch_libdir}/tmpfiles.d
    install -m 0644 ${UNPACKDIR}/facteur-tmpfiles.conf ${D}${nonarch_libdir}/tmpfiles.d/facteur.conf

    # networkd also reads the file the daemon writes on /data (docs/network.md).
    install -d ${D}${systemd_system_unitdir}/systemd-networkd.service.d
    install -m 0644 ${UNPACKDIR}/facteur-networkd.conf ${D}${systemd_system_unitdir}/systemd-networkd.service.d/facteur.conf
    install -d ${D}${nonarch_libdir}/systemd/network
    sed -e 's|@FACTEUR_LAN_INTERFACE@|${FACTEUR_LAN_INTERFACE}|' \
        ${UNPACKDIR}/80-facteur-lan.network > ${D}${nonarch_libdir}/systemd/network/80-facteur-lan.network
    chmod 0644 ${D}${nonarch_libdir}/systemd/network/80-facteur-lan.network

    install -d ${D}${datadir}/polkit-1/rules.d
    install -m 0644 ${UNPACKDIR}/50-facteur-networkd.rules ${D}${datadir}/polkit-1/rules.d/

    install -d ${D}${datadir}/dbus-1/system.d
    install -m 0644 ${UNPACKDIR}/facteur-rauc.conf ${D}${datadir}/dbus-1/system.d/

    install -d ${D}${nonarch_base_libdir}/udev/rules.d
    install -m 0644 ${UNPACKDIR}/70-facteur-board.rules ${D}${nonarch_base_libdir}/udev/rules.d/
}

USERADD_PACKAGES = "${PN}"
# facteur-board owns the GPIO, I2C, PWM and watchdog devices (udev rule).
GROUPADD_PARAM:${PN} = "--system facteur-board"
USERADD_PARAM:${PN} = "--system --user-group --groups facteur-board \
    --home-dir /data/facteur --no-create-home --shell ${base_sbindir}/nologin facteur"

SYSTEMD_SERVICE:${PN} = "facteur.service"

FILES:${PN} += "${datadir}/polkit-1/rules.d \
    ${datadir}/dbus-1/system.d \
    ${nonarch_libdir}/tmpfiles.d \
    ${nonarch_libdir}/systemd/network \
    ${systemd_system_unitdir}/systemd-networkd.service.d \
    ${nonarch_base_libdir}/udev/rules.d \
"
CONFFILES:${PN} = "${sysconfdir}/facteur/facteur.toml"

# pcscd and the CCID driver for the card reader, networkd's networkctl,
# polkit for the rule above, RAUC's D-Bus service for updates.
RDEPENDS:${PN} += "ccid pcsc-lite polkit rauc systemd"
