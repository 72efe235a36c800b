#!/bin/sh
# Builds the tiny template under OUT_DIR (make tiny: var/templates):
#   tiny.ext4        a 16 MiB ext4 root filesystem of busybox, made without
#                    mounting (mkfs.ext4 -d), whose init configures the guest
#                    from its cloud-init NoCloud seed (rcS, seed.awk);
#   tiny-initrd.img  busybox and the few modules a guest needs, which mounts
#                    /dev/vda and switch_roots into it.
# Booted with the host's kernel (direct kernel boot), like the article's Xen
# paravirtual templates. Skipped when the inputs have not changed; the
# initramfs is byte for byte reproducible (fixed times, sorted cpio).
#
# tiny.ext4 is a symbolic link to tiny-<inputs>.ext4: guests' overlays use
# the file they were cloned from as their backing file, so a new build is a
# new file and never changes the one under existing overlays.
#
# With CONF (an mln.conf), the kernel is the one CONF names, and CONF gets
# `kernel` and `initrd` lines when it has none: pv templates boot with them,
# and the initramfs's modules must match the kernel.
set -eu

OUT=${1:?usage: build.sh OUT_DIR [MLN_CONF]}
CONF=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)

conf_value() {
    if [ -n "$CONF" ] && [ -f "$CONF" ]; then
        awk -v key="$1" '$1 == key { $1 = ""; sub(/^ +/, ""); v = $0 } END { print v }' "$CONF"
    fi
}

# Adds `key value` to CONF when the key is missing; a value already there is the administrator's.
conf_default() {
    [ -n "$CONF" ] || return 0
    current=$(conf_value "$1")
    if [ -z "$current" ]; then
        mkdir -p "$(dirname "$CONF")"
        [ -s "$CONF" ] && [ -n "$(tail -c 1 "$CONF")" ] && echo >> "$CONF"  # end the last line first
        echo "$1 $2" >> "$CONF"
        echo "tiny template: $CONF: $1 $2"
    elif [ "$current" != "$2" ]; then
        echo "tiny template: note: $CONF keeps $1 $current (the tiny template's is $2)"
    fi
}

KERNEL=${KERNEL:-$(conf_value kernel)}
KERNEL=${KERNEL:-$(ls /boot/vmlinuz-* | sort -V | tail -n 1)}
KVER=${KERNEL#/boot/vmlinuz-}
BUSYBOX=/bin/busybox  # from busybox-static: the guest has no libc
# Disk, filesystem, network, iso9660 to read the seed disk, and the ACPI power button (as an
# input device) so that libvirt's shutdown reaches the guest's acpid.
MODULES="virtio_pci virtio_blk virtio_net ext4 isofs button evdev"
EPOCH=946684800  # 2000-01-01

inputs=$(cat "$HERE"/build.sh "$HERE"/initramfs-init "$HERE"/inittab "$HERE"/rcS "$HERE"/seed.awk \
    "$HERE"/udhcpc.script "$BUSYBOX" | sha256sum | cut -d' ' -f1)
stamp="$inputs $KVER $MODULES"
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)
ROOTFS=tiny-$(echo "$stamp" | sha256sum | cut -c 1-12).ext4
if [ -f "$OUT/$ROOTFS" ] && [ "$(readlink "$OUT/tiny.ext4")" = "$ROOTFS" ] && [ -f "$OUT/tiny-initrd.img" ] \
        && [ "$(cat "$OUT/.tiny-inputs" 2> /dev/null)" = "$stamp" ]; then
    echo "tiny template: up to date in $OUT"
    conf_default kernel "$KERNEL"
    conf_default initrd "$OUT/tiny-initrd.img"
    exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# --- the initramfs ---
I=$WORK/initramfs
mkdir -p "$I/bin" "$I/dev" "$I/proc" "$I/sys" "$I/newroot" "$I/lib/modules"
cp "$BUSYBOX" "$I/bin/busybox"
cp "$HERE/initramfs-init" "$I/init"
chmod 755 "$I/init"
mknod -m 600 "$I/dev/console" c 5 1  # init's first stdin/stdout, before devtmpfs is mounted
for module in $MODULES; do
    modprobe -S "$KVER" --show-depends "$module" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r path; do
    case "$path" in *.ko) ;; *) echo "build.sh: $path: only uncompressed modules are supported" >&2; exit 1 ;; esac
    cp "$path" "$I/lib/modules/"
    basename "$path" >> "$I/lib/modules/modules.order"
done

# --- the root filesystem ---
R=$WORK/root
mkdir -p "$R/bin" "$R/sbin" "$R/usr/bin" "$R/usr/sbin" "$R/etc/init.d" "$R/proc" "$R/sys" "$R/dev" \
    "$R/run" "$R/tmp" "$R/root" "$R/home" "$R/var/lib/cloud" "$R/lib/mln" "$R/usr/share/udhcpc"
cp "$BUSYBOX" "$R/bin/busybox"
"$BUSYBOX" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] || ln -s /bin/busybox "$R/$applet"
done
install -m 644 "$HERE/inittab" "$R/etc/inittab"
install -m 755 "$HERE/rcS" "$R/etc/init.d/rcS"
install -m 644 "$HERE/seed.awk" "$R/lib/mln/seed.awk"
install -m 755 "$HERE/udhcpc.script" "$R/usr/share/udhcpc/default.script"
mkdir -p "$R/etc/acpi/PWRF"
printf '#!/bin/sh\n# The ACPI power button (libvirt shutdown): init runs ::shutdown, then powers off.\nexec /sbin/poweroff\n' \
    > "$R/etc/acpi/PWRF/00000080"
chmod 755 "$R/etc/acpi/PWRF/00000080"
echo tiny > "$R/etc/hostname"
# rcS rewrites the accounts at boot from the seed; without a seed root is locked.
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
echo 'root:*:19000:0:99999:7:::' > "$R/etc/shadow"
chmod 600 "$R/etc/shadow"
printf 'MLN tiny template: \\n on \\l\n\n' > "$R/etc/issue"
# Single quotes in the profile: in double quotes ash makes \$ a plain $, and root's prompt `$`.
cat > "$R/etc/profile" << 'EOF'
export PS1='\u@\h:\w\$ '
EOF
chmod 1777 "$R/tmp"
chmod 700 "$R/root"

find "$I" "$R" -exec touch -h -d "@$EPOCH" {} +
(cd "$I" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9n > "$WORK/tiny-initrd.img"
mkfs.ext4 -q -F -L tiny -E root_owner=0:0 -d "$R" "$WORK/tiny.ext4" 16M > /dev/null

# libvirt's qemu user reads these: world-readable, and replaced whole.
chmod 644 "$WORK/tiny-initrd.img" "$WORK/tiny.ext4"
mv "$WORK/tiny-initrd.img" "$OUT/tiny-initrd.img"
mv "$WORK/tiny.ext4" "$OUT/$ROOTFS"
ln -sfn "$ROOTFS" "$WORK/tiny.ext4"
mv -T "$WORK/tiny.ext4" "$OUT/tiny.ext4"
echo "$stamp" > "$OUT/.tiny-inputs"
echo "tiny template: built $OUT/$ROOTFS (tiny.ext4) and $OUT/tiny-initrd.img for kernel $KVER"
conf_default kernel "$KERNEL"
conf_default initrd "$OUT/tiny-initrd.img"
