#!/bin/sh
# PID 1 of the pppup test guest (busybox sh, inside the initramfs).
#
# Builds the guest's root from the host's root (9p, read-only) with fresh
# writable tmpfs where tests write, runs the one command the host asked for
# (chrooted, clean environment, stdin /dev/null, output on the console), then
# prints an exit marker carrying the host's per-run token and powers off.
# The host (tests/vm/run.py) takes the command's status from that marker;
# without it the run counts as a VM failure.
#
# The job comes from the host as a 9p share "pppup-job":
#   job.env  TOKEN=... LINES=N OUT_DIR=/abs/path (sourced)
#   cmd.sh   cd + exec env -i ... COMMAND (run by /bin/sh inside the chroot)

export PATH=/bin
/bin/busybox --install -s /bin
umask 022

die() {
    echo "pppup-vm init: $*; powering off" >/dev/console
    poweroff -f
    sleep 60
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1

# Modules in dependency order (computed on the host from their .modinfo).
for module in $(cat /mods/order); do
    insmod "/mods/$module.ko" || die "insmod $module failed"
done

p9='trans=virtio,version=9p2000.L,msize=512000'
mount -t 9p -o "$p9,ro,cache=none" pppup-job /job || die "cannot mount the job share"
. /job/job.env
[ -n "$TOKEN" ] || die "job.env has no TOKEN"

# The host's root, read-only.  cache=loose: nothing changes it during a run.
R=/newroot
mount -t 9p -o "$p9,ro,cache=loose" hostroot "$R" || die "cannot mount the host root over 9p"

# Writable, throw-away views of the host's directories that tests change
# (users, /etc/pppup/policy.toml, /etc/ppp/peers, spool files, HOME).
mount -t tmpfs -o mode=755 tmpfs /ov
for dir in etc var tmp root home; do
    [ -d "$R/$dir" ] || continue
    mkdir -p "/ov/$dir/upper" "/ov/$dir/work"
    mount -t overlay -o "lowerdir=$R/$dir,upperdir=/ov/$dir/upper,workdir=/ov/$dir/work" \
        overlay "$R/$dir" || die "cannot overlay /$dir"
done

# /run starts empty, as after a boot: no host state (locks, pppup records) leaks in.
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run" || die "cannot mount /run"
mkdir -p -m 1777 "$R/run/lock"

# /dev: the kernel's nodes (ppp, ttyS*, vport*), a private devpts, /dev/shm.
mount -t devtmpfs devtmpfs "$R/dev" || die "cannot mount /dev"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$R/dev/pts" || die "cannot mount devpts"
ln -sf pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
ln -sf /proc/self/fd "$R/dev/fd"
ln -sf /proc/self/fd/0 "$R/dev/stdin"
ln -sf /proc/self/fd/1 "$R/dev/stdout"
ln -sf /proc/self/fd/2 "$R/dev/stderr"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"

# Lines: ttySN is looped by QEMU to the virtio port named lineN.  Name the
# ports as udev would (/dev/virtio-ports/NAME); the ports appear shortly
# after virtio_console loads, so wait for them.
mkdir -p /dev/virtio-ports
n=1
while [ "$n" -le "$LINES" ]; do
    tries=0
    while ! grep -qx "line$n" /sys/class/virtio-ports/*/name 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -le 100 ] || die "virtio port line$n did not appear"
        sleep 0.05
    done
    grep -q "^$n: uart:16550A" /proc/tty/driver/serial || die "/dev/ttyS$n is not a 16550A UART"
    n=$((n + 1))
done
for port in /sys/class/virtio-ports/*; do
    ln -sf "../${port##*/}" "/dev/virtio-ports/$(cat "$port/name")"
done

if [ -n "$OUT_DIR" ]; then
    mkdir -p "$R$OUT_DIR" 2>/dev/null
    mount -t 9p -o "$p9,rw,cache=none" pppup-out "$R$OUT_DIR" || die "cannot mount the output share on $OUT_DIR"
fi

hostname pppup-vm
ip link set lo up
cp /job/cmd.sh "$R/run/pppup-vm-command" || die "cannot copy the command"

echo "PPPUP-VM-BOOTED $TOKEN $(cut -d' ' -f1 /proc/uptime)"
chroot "$R" /bin/sh /run/pppup-vm-command
status=$?
sync
echo "PPPUP-VM-EXIT $TOKEN $status"
poweroff -f
sleep 60
