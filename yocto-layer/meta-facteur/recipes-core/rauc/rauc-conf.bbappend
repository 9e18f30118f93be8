# Facteur's RAUC configuration: A/B root file systems, the bootloader per
# machine (system.conf under files/<machine>/), and a keyring holding two
# CAs, the current and the next, so that the signing key can be rotated
# without a flag day (docs/building-the-image.md, « Key rotation »).
# Everything applies only with DISTRO = "facteur".

FILESEXTRAPATHS:prepend:facteur := "${THISDIR}/files:"

# The two CA certificates (PEM, one certificate each) come from the build
# host: RAUC_KEYRING_CURRENT and RAUC_KEYRING_NEXT, absolute paths set in
# local.conf or the kas file (defaults in conf/distro/facteur.conf). They
# are public certificates; the signing keys never come near the layer.
# The keyring is made from them in do_install, not fetched.
RAUC_KEYRING_FILE:facteur = "keyring.pem"
RAUC_KEYRING_URI:facteur = ""

do_install[file-checksums] += "${@' '.join('%s:True' % f for f in (d.getVar('RAUC_KEYRING_CURRENT') or '', d.getVar('RAUC_KEYRING_NEXT') or '') if f)}"
do_install[vardeps] += "FACTEUR_RAUC_COMPATIBLE RAUC_KEYRING_CURRENT RAUC_KEYRING_NEXT"

do_install:prepend:facteur() {
    for ca in "${RAUC_KEYRING_CURRENT}" "${RAUC_KEYRING_NEXT}"; do
        if [ ! -f "$ca" ]; then
            bbfatal "RAUC_KEYRING_CURRENT and RAUC_KEYRING_NEXT must name the current and the next update CA certificates (PEM) on the build host; got '$ca'"
        fi
        if [ "$(grep -c -- '-----BEGIN CERTIFICATE-----' "$ca")" != "1" ]; then
            bbfatal "$ca: expected exactly one PEM certificate"
        fi
        if grep -q -- 'PRIVATE KEY' "$ca"; then
            bbfatal "$ca holds a private key: only the CA certificate goes into the image"
        fi
    done
    if cmp -s "${RAUC_KEYRING_CURRENT}" "${RAUC_KEYRING_NEXT}"; then
        bbfatal "RAUC_KEYRING_CURRENT and RAUC_KEYRING_NEXT are the same certificate: the keyring needs the next CA too"
    fi
    cat "${RAUC_KEYRING_CURRENT}" "${RAUC_KEYRING_NEXT}" > ${UNPACKDIR}/keyring.pem
    sed -i -e 's|@FACTEUR_RAUC_COMPATIBLE@|${FACTEUR_RAUC_COMPATIBLE}|' ${UNPACKDIR}/system.conf
}

# The tools RAUC's bootloader backend runs (fw_setenv, grub-editenv), per
# machine in conf/distro/facteur.conf.
RDEPENDS:${PN}:append:facteur = " ${FACTEUR_RAUC_BOOTLOADER_TOOLS}"
