# nooelint: oelint.var.mandatoryvar.HOMEPAGE - the project has no public web site; the source is FACTEUR_GIT_URI
SUMMARY = "Initial GRUB environment for Facteur's A/B boot on qemux86-64"
DESCRIPTION = "A 1024-byte GRUB environment block (both slots good, A \
first) that the kickstart puts at EFI/BOOT/grubenv, where facteur-grub.cfg \
and RAUC's grub backend read and write it."
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

SRC_URI = "file://grubenv"

S = "${UNPACKDIR}"

inherit deploy nopackages

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_deploy() {
    install -m 0644 ${UNPACKDIR}/grubenv ${DEPLOYDIR}/grubenv
}
addtask deploy after do_install before do_build

# Copied into the EFI system partition by wic's bootimg_efi.
COMPATIBLE_HOST = "(x86_64|i.86).*-linux"
