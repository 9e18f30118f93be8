SUMMARY = "The Facteur appliance's root file system"
DESCRIPTION = "Read-only root file system with systemd, the Facteur daemon \
and web admin, pcscd and RAUC. The wic image is the factory disk (boot, \
rootfs A, rootfs B, data); the ext4 image is what the RAUC bundle carries."
LICENSE = "MIT"

inherit core-image

IMAGE_FEATURES += "read-only-rootfs"

# The kernel is loaded from the slot's own /boot by U-Boot or GRUB, so it
# is updated with the root file system.
IMAGE_INSTALL = " \
    packagegroup-core-boot \
    packagegroup-facteur \
    kernel-image \
    ${CORE_IMAGE_EXTRA_INSTALL} \
"

# The daemon marks a slot good once it is healthy (gateway/src/update);
# meta-rauc's unconditional rauc-mark-good would defeat the fallback.
BAD_RECOMMENDATIONS += "rauc-mark-good"

IMAGE_LINGUAS = ""

# wic: the factory disk image. ext4: the slot image for the bundle
# (facteur-bundle takes RAUC_IMAGE_FSTYPE, the first of these).
IMAGE_FSTYPES = "ext4 wic.bz2 wic.bmap"

WKS_FILE ?= "facteur-ab-efi.wks.in"
WKS_FILE:raspberrypi4-64 ?= "facteur-ab-rpi.wks.in"
do_image_wic[depends] += "${@'facteur-grubenv:do_deploy' if d.getVar('WKS_FILE') == 'facteur-ab-efi.wks.in' else ''}"

# Sizes in MiB for the kickstart files: both slots have the same fixed
# size (this image and every later one must fit in it); the data
# partition is made with FACTEUR_DATA_SIZE (the directory, the queue and
# the audit log live there).
FACTEUR_SLOT_SIZE ?= "1024"
FACTEUR_DATA_SIZE ?= "2048"

# Smaller bundles with RAUC's adaptive updates: 4 KiB aligned images, 4 KiB
# blocks and a fixed directory hash seed, so unchanged blocks stay equal.
IMAGE_ROOTFS_ALIGNMENT = "4"
# nooelint: oelint.vars.specific - ext4 is the image type override oe-core uses for this variable
EXTRA_IMAGECMD:ext4 = "-i 4096 -b 4096 -E hash_seed=2b1c8f64-5f0c-4a43-9d43-6a1f0f2e7a51"

# qemux86-64: the GRUB environment next to GRUB on the EFI partition.
IMAGE_EFI_BOOT_FILES:append:qemux86-64 = " grubenv;EFI/BOOT/grubenv"
