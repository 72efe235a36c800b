#!/bin/bash
# Builds the debian template under OUT_DIR (make debian: var/templates):
#   debian.qcow2      Debian 12 (bookworm) on an ext4 filesystem (no partition table,
#                     label `debian`), configured at boot by real cloud-init from the
#                     NoCloud seed MLN attaches (a disk labelled `cidata`);
#   debian.vmlinuz    the image's own kernel (linux-image-cloud-amd64) and initrd:
#   debian.initrd.img the guest boots them directly, with
#                     root=/dev/vda console=ttyS0 net.ifnames=0.
# From Debian's packages only, with mmdebstrap, through the mirror the host's apt
# uses (no other download); apache2 is in the image so that the `apache` plugin
# only configures it at boot. The figures (build time, sizes, boot time under TCG)
# are in ../shared/docs/hypervisor-notes.md.
#
# Skipped when the inputs (this file and 99_mln.cfg) have not changed. Like tiny's,
# the three names are symbolic links to debian-<inputs>.*: guests' overlays use the
# file they were cloned from as their backing file (and its modules need its own
# kernel), so a new build is new files and never changes those under existing
# overlays. The build happens in a temporary folder (under TMPDIR, about 1.5 GB) and
# its files are moved into place at the end, the links last and each replaced by a
# rename: a failed build leaves the previous template as it was.
#
# The downloaded packages are kept in OUT_DIR/.debian-debs (232 packages, 112 MB), so a
# rebuild after an edit here downloads only what changed on the mirror.
#
# Needs root: mmdebstrap's root mode, and the files' owners go into the image.
set -euo pipefail

OUT=${1:?usage: build.sh OUT_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)

SUITE=bookworm
LABEL=debian
SIZE=1G  # about half of it used; cloud-init grows it to the overlay's size at first boot
PACKAGES="systemd-sysv linux-image-cloud-amd64 cloud-init openssh-server qemu-guest-agent ifupdown
    isc-dhcp-client iproute2 iputils-ping sudo dbus libpam-systemd netbase resolvconf apache2"

say() { echo "debian template: $*"; }

inputs=$(cat "$HERE"/build.sh "$HERE"/99_mln.cfg | sha256sum | cut -c 1-12)
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)
NAME=debian-$inputs

up_to_date() {
    [ "$(cat "$OUT/.debian-inputs" 2> /dev/null)" = "$inputs" ] || return 1
    for ext in qcow2 vmlinuz initrd.img; do
        [ -f "$OUT/$NAME.$ext" ] && [ "$(readlink "$OUT/debian.$ext")" = "$NAME.$ext" ] || return 1
    done
}

if up_to_date; then
    say "up to date in $OUT"
    exit 0
fi

# One build at a time (make run may build in the background while make test starts);
# the second one finds the first one's result.
exec 9> "$OUT/.debian.lock"
flock 9
if up_to_date; then
    say "up to date in $OUT"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "build.sh: the debian template is built as root (mmdebstrap's root mode, file owners)" >&2
    exit 1
fi
if ! command -v mmdebstrap > /dev/null; then
    # Without --no-install-recommends its recommends upgrade the host's login and passwd.
    say "installing mmdebstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap > /dev/null
fi

# mmdebstrap mounts /proc, /sys and /dev in the tree it builds; a build killed midway can
# leave them mounted: unmount them first, and never let rm cross into another filesystem.
remove_build() {
    awk -v dir="$1" 'index($2, dir "/") == 1 { print $2 }' /proc/mounts | sort -r | while read -r mnt; do
        umount -l "$mnt" || true
    done
    rm -rf --one-file-system "$1"
}
# What a killed build left (we hold the lock: no build is running).
old=$(cat "$OUT/.debian-building" 2> /dev/null || true)
case "$old" in */mln-debian.*) [ -d "$old" ] && remove_build "$old" ;; esac
# The tree is built outside OUT_DIR (and outside the checkout, whose recursive greps
# and indexers would walk into its mounted /proc and keep it busy).
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mln-debian.XXXXXX")
echo "$WORK" > "$OUT/.debian-building"
trap 'remove_build "$WORK"; rm -f "$OUT"/.debian-building "$OUT"/.debian-*.part' EXIT
trap 'exit 130' INT TERM HUP  # bash runs the EXIT trap on a signal only when the signal is trapped
R=$WORK/root
CACHE=$OUT/.debian-debs
mkdir -p "$CACHE" "$WORK/debs"

# The host's own Debian repositories for this suite (its mirror, security and updates),
# as apt sees them; and the apt options that reaching them may need (a proxy, a
# snapshot mirror's expired Valid-Until). mmdebstrap does not read the host's apt.conf.
apt-cache policy | awk -v suite="$SUITE" '
    $2 ~ /^[a-z+]+:/ && $4 == "amd64" && $5 == "Packages" { split($3, s, "/"); uri = $2; dist = s[1]; comp = s[2]; next }
    $1 == "release" && uri != "" {
        if ($2 ~ /(^|,)o=Debian(,|$)/ && (dist == suite || index(dist, suite "-") == 1)) print "deb", uri, dist, comp
        uri = ""
    }' | sort -u > "$WORK/sources.list"
if [ -s "$WORK/sources.list" ]; then
    MIRROR=$WORK/sources.list
else
    MIRROR=http://deb.debian.org/debian  # a host that is not Debian 12: mmdebstrap's default mirror
fi
APTOPTS=()
while IFS= read -r option; do
    APTOPTS+=(--aptopt="$option")
done < <(apt-config dump | grep -E '^Acquire::(https?::Proxy|Check-Valid-Until|Check-Date) ' || true)

if [ -f "$MIRROR" ]; then from=$(awk '{ print $2, $3 }' "$MIRROR" | paste -sd,); else from=$MIRROR; fi
say "building $NAME from $from"
# The root filesystem's fstab line and type are written before the kernel is installed, so
# that its initrd carries e2fsck and checks / before mounting it (the build host cannot
# resolve LABEL=debian to find the type); systemd remounts / read-write from that line.
mmdebstrap --quiet --mode=root --variant=minbase --include="$(echo $PACKAGES | tr ' ' ,)" \
    "${APTOPTS[@]}" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --skip=download/empty --skip=essential/unlink \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
    --setup-hook="sync-in $CACHE /var/cache/apt/archives/" \
    --essential-hook="echo 'LABEL=$LABEL / ext4 defaults,errors=remount-ro 0 1' > \"\$1\"/etc/fstab" \
    --essential-hook='mkdir -p "$1"/etc/initramfs-tools/conf.d && echo FSTYPE=ext4 > "$1"/etc/initramfs-tools/conf.d/mln-root' \
    --customize-hook="sync-out /var/cache/apt/archives $WORK/debs" \
    --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
    --customize-hook='chroot "$1" systemctl --quiet mask e2scrub_reap.service' \
    --customize-hook='chroot "$1" systemctl --quiet enable serial-getty@ttyS0.service' \
    "$SUITE" "$R" "$MIRROR"

# mmdebstrap leaves the host's resolv.conf and hostname in the tree.
ln -sfn ../run/resolvconf/resolv.conf "$R/etc/resolv.conf"
rm -f "$R/etc/hostname" && echo "$LABEL" > "$R/etc/hostname"  # the host's copy may have any mode
[ -s "$R/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
# Each guest gets its own machine id and SSH host keys at first boot.
: > "$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id" && ln -s /etc/machine-id "$R/var/lib/dbus/machine-id"
rm -f "$R"/etc/ssh/ssh_host_*
install -m 644 "$HERE/99_mln.cfg" "$R/etc/cloud/cloud.cfg.d/99_mln.cfg"

kernels=("$R"/boot/vmlinuz-*)
[ ${#kernels[@]} = 1 ] && [ -f "${kernels[0]}" ] || { echo "build.sh: expected one kernel, found: ${kernels[*]}" >&2; exit 1; }
KVER=${kernels[0]#"$R"/boot/vmlinuz-}
install -m 644 "$R/boot/vmlinuz-$KVER" "$WORK/$NAME.vmlinuz"
install -m 644 "$R/boot/initrd.img-$KVER" "$WORK/$NAME.initrd.img"
packages=$(chroot "$R" dpkg-query -W -f '${db:Status-Abbrev}\n' | grep -c '^ii')

mkfs.ext4 -q -F -L "$LABEL" -E root_owner=0:0 -d "$R" "$WORK/$NAME.ext4" "$SIZE" > /dev/null
qemu-img convert -f raw -O qcow2 "$WORK/$NAME.ext4" "$WORK/$NAME.qcow2"

# libvirt's qemu user reads these: world-readable; new names, then the links swapped.
chmod 644 "$WORK/$NAME.qcow2"
for ext in vmlinuz initrd.img qcow2; do
    mv "$WORK/$NAME.$ext" "$OUT/.$NAME.$ext.part"  # a copy when TMPDIR is another filesystem
    mv "$OUT/.$NAME.$ext.part" "$OUT/$NAME.$ext"
    ln -sfn "$NAME.$ext" "$OUT/.debian-link.part"
    mv -T "$OUT/.debian-link.part" "$OUT/debian.$ext"
done
echo "$inputs" > "$OUT/.debian-inputs"
# The packages of this build, for the next one (replaced whole: no stale versions pile up).
rm -rf "$CACHE" && mv "$WORK/debs" "$CACHE"
say "built $OUT/$NAME.qcow2 (debian.qcow2): $packages packages, kernel $KVER," \
    "$(du -m --apparent-size "$OUT/$NAME.qcow2" | cut -f1) MB"
