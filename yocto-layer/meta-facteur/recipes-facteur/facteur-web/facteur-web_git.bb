# nooelint: oelint.var.mandatoryvar.HOMEPAGE - the project has no public web site; the source is FACTEUR_GIT_URI
SUMMARY = "Facteur web admin: claim the box, set it up, see its state, unlock the CPS card"
DESCRIPTION = "facteur-web serves the box's administration pages over HTTPS \
on the practice's LAN and reaches the daemon only through its control API."

require recipes-facteur/facteur-source.inc
require ${BPN}-crates.inc

CARGO_BUILD_FLAGS += "-p facteur-web-admin"

SRC_URI += "file://facteur-web.service \
    file://facteur-web-control.socket \
    file://facteur-web-control.service \
    file://web.toml \
    file://facteur-web-tmpfiles.conf \
"

inherit systemd useradd

do_install:append() {
    install -d ${D}${sysconfdir}/facteur
    install -m 0644 ${UNPACKDIR}/web.toml ${D}${sysconfdir}/facteur/web.toml

    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${UNPACKDIR}/facteur-web.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${UNPACKDIR}/facteur-web-control.socket ${D}${systemd_system_unitdir}/
    install -m 0644 ${UNPACKDIR}/facteur-web-control.service ${D}${systemd_system_unitdir}/

    install -d ${D}${nonarch_libdir}/tmpfiles.d
    install -m 0644 ${UNPACKDIR}/facteur-web-tmpfiles.conf ${D}${nonarch_libdir}/tmpfiles.d/facteur-web.conf
}

USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --user-group \
    --home-dir /data/facteur-web --no-create-home --shell ${base_sbindir}/nologin facteur-web"

SYSTEMD_SERVICE:${PN} = "facteur-web.service facteur-web-control.socket"

FILES:${PN} += "${nonarch_libdir}/tmpfiles.d"
CONFFILES:${PN} = "${sysconfdir}/facteur/web.toml"

# The daemon (and its user, which the control proxy runs as);
# systemd-socket-proxyd is in systemd-extra-utils.
RDEPENDS:${PN} += "facteur systemd-extra-utils"
