# nooelint: oelint.var.mandatoryvar.HOMEPAGE,oelint.file.underscores,oelint.var.mandatoryvar.SRC_URI - no public web site; a bundle is named without a version (the bundle class versions it) and fetches nothing
SUMMARY = "Signed RAUC bundle updating the Facteur appliance's root file system"
DESCRIPTION = "A verity-format RAUC bundle holding facteur-image's ext4 \
root file system for the inactive slot, signed with the update key of \
the regional group."
LICENSE = "MIT"

inherit bundle

# The same compatible string as every box's system.conf (rauc-conf).
RAUC_BUNDLE_COMPATIBLE = "${FACTEUR_RAUC_COMPATIBLE}"
RAUC_BUNDLE_VERSION = "${DISTRO_VERSION}"
RAUC_BUNDLE_DESCRIPTION = "Facteur ${DISTRO_VERSION}"
RAUC_BUNDLE_FORMAT = "verity"

RAUC_BUNDLE_SLOTS = "rootfs"
RAUC_SLOT_rootfs = "facteur-image"
RAUC_SLOT_rootfs[fstype] = "ext4"
RAUC_SLOT_rootfs[adaptive] = "block-hash-index"

# Signing: a key and certificate issued by the current update CA. They
# live on the signing host of the regional group (an HSM through a PKCS#11
# URI, or an offline machine), never in this layer: the kas file or
# local.conf of that host sets both (docs/building-the-image.md).
RAUC_KEY_FILE ??= ""
RAUC_CERT_FILE ??= ""

# nooelint: oelint.task.noanonpython - skips the recipe with its reason on hosts that cannot sign
python () {
    for var in ('RAUC_KEY_FILE', 'RAUC_CERT_FILE'):
        if not d.getVar(var):
            raise bb.parse.SkipRecipe("%s is not set: the bundle is built on the signing host (docs/building-the-image.md)" % var)
}
