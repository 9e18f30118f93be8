# nooelint: oelint.var.mandatoryvar.HOMEPAGE - the project has no public web site; the source is FACTEUR_GIT_URI
SUMMARY = "Facteur appliance base: the data and boot partitions' mounts"
DESCRIPTION = "Mount units for the persistent data partition (/data, label \
facteur-data) and the boot partition (/boot, label boot), where the \
bootloader's environment lives for RAUC's boot counting."
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

SRC_URI = "file://data.mount \
           file://boot.mount \
           file://facteur-base-tmpfiles.conf \
"

S = "${UNPACKDIR}"

inherit systemd allarch

# Units, not fstab lines: the root file system is the same image in both
# slots and in the bundle, while wic's fstab edits reach only the first
# slot of the disk image (the kickstart files say --no-fstab-update).
do_install() {
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${UNPACKDIR}/data.mount ${D}${systemd_system_unitdir}/
    install -m 0644 ${UNPACKDIR}/boot.mount ${D}${systemd_system_unitdir}/
    install -d ${D}${nonarch_libdir}/tmpfiles.d
    install -m 0644 ${UNPACKDIR}/facteur-base-tmpfiles.conf ${D}${nonarch_libdir}/tmpfiles.d/facteur-base.conf
}

SYSTEMD_SERVICE:${PN} = "data.mount boot.mount"

FILES:${PN} += "${nonarch_libdir}/tmpfiles.d"
