#!/bin/bash
# The compiled core's tests on an emulated AVX-512 CPU (`make test-avx512-emulated`), for a host without
# AVX-512: Bochs (Debian's bochs 2.7, CPU model corei7_skylake_x: AVX-512 F/CD/BW/DQ/VL) boots Debian's
# cloud kernel from an ISO whose initramfs holds the files the same tests open on this host (traced with
# strace), and runs them there with TCONV_ISA=avx512.
#
# Bochs 2.7's CPUID leaf 0xD reports XSAVE sizes that disagree with its own offsets, so the guest kernel
# turns XSAVE off (no AVX at all); dev/xsave_on.c, a module loaded before the tests, sets CR4.OSXSAVE and
# XCR0 = x87|SSE|AVX|opmask|ZMM and switches the state that kernel leaves alone (vector upper halves,
# opmasks) per task on sched_switch, so threads keep their registers.  One emulated CPU (two run the
# same tests about ten times slower); a correctness check of the AVX-512 code, not a benchmark: Bochs
# runs about 60 million instructions a second, the run takes 15-25 minutes.
#
# Needs root and apt (Debian 12); installs what it uses.  Work files in build-emulate/ (ignored by git).
# Usage: dev/emulate-avx512.sh [pytest -k expression, default avx512] ; exits 0 only when every selected
# test passed in the guest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=$PWD
WORK=$ROOT_DIR/build-emulate
SELECT=${1:-avx512}
TESTS=${TCONV_EMULATED_TESTS:-"tests/test_native_build.py tests/test_native_gemm.py tests/test_native_conv.py tests/test_native_direct.py tests/test_native_brgemm.py"}
PY=$ROOT_DIR/.venv/bin/python

[ "$(id -u)" = 0 ] || { echo "needs root (apt-get, insmod in the guest image)" >&2; exit 2; }
[ -x "$PY" ] || { echo "run make test first (the tests' virtual environment)" >&2; exit 2; }
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends bochs bochsbios vgabios isolinux syslinux-common genisoimage \
    busybox-static strace cpio linux-headers-cloud-amd64 >/dev/null
KVER=$(dpkg-query -W -f '${Depends}' linux-headers-cloud-amd64 | sed -n 's/.*linux-headers-\([^ ,]*-cloud-amd64\).*/\1/p')
[ -n "$KVER" ] || { echo "cannot tell the cloud kernel's version" >&2; exit 2; }

rm -rf "$WORK" && mkdir -p "$WORK"/{kmod,iso/isolinux} && cd "$WORK"
(apt-get download -q "linux-image-$KVER" >/dev/null 2>&1) && dpkg-deb -x linux-image-"$KVER"_*.deb kpkg
cp "$ROOT_DIR/dev/xsave_on.c" kmod/ && echo 'obj-m := xsave_on.o' > kmod/Makefile
make -s -C "/usr/src/linux-headers-$KVER" M="$WORK/kmod" modules >/dev/null 2>&1

# the guest's command, traced here on the portable path (it opens the same files)
cat > guest_cmd.sh <<EOF
cd $ROOT_DIR
TCONV_ISA=\${TCONV_ISA:-avx512} $PY -m pytest -q -p no:cacheprovider --color=no -rfEs --tb=short $TESTS -k "\$1"
EOF
TCONV_ISA=generic strace -f -qq -e trace=open,openat,execve,stat,newfstatat,readlink -o trace.txt \
    bash guest_cmd.sh generic >/dev/null

mkdir -p root/{proc,sys,dev,tmp,usr/bin,usr/lib,usr/lib64,usr/sbin}
for d in bin lib lib64 sbin; do ln -s "usr/$d" "root/$d"; done
grep -v -E 'ENOENT|ENOTDIR' trace.txt | grep -o '"/[^"]*"' | tr -d '"' | sort -u | while read -r p; do
    case "$p" in /proc*|/sys*|/dev*|/tmp*) continue;; esac
    for q in "$p" "$(readlink -f "$p")"; do
        if [ -f "$q" ] || [ -L "$q" ]; then cp -a --parents "$q" root/ 2>/dev/null || true
        elif [ -d "$q" ]; then mkdir -p "root$q"; fi
    done
done
cp -a --parents /usr/lib64/ld-linux-x86-64.so.2 "$(readlink -f /usr/lib64/ld-linux-x86-64.so.2)" /usr/bin/bash root/
cp -a --parents "$ROOT_DIR/tests" "$ROOT_DIR/src/tconv" "$ROOT_DIR/pyproject.toml" root/
cp /bin/busybox root/usr/bin/busybox && cp kmod/xsave_on.ko guest_cmd.sh root/
cat > root/init <<'EOF'
#!/bin/busybox sh
/bin/busybox mkdir -p /bb && /bin/busybox --install -s /bb
export PATH=/bb:/usr/bin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
insmod /xsave_on.ko || echo 'GUEST-NO-XSAVE-MODULE'
echo "GUEST-START $(grep -m1 'model name' /proc/cpuinfo)"
/bin/bash /guest_cmd.sh "$(sed -n 's/.*tk=\([^ ]*\).*/\1/p' /proc/cmdline)" 2>&1
echo "GUEST-RC $?"
echo "xsave_on evictions: $(cat /sys/module/xsave_on/parameters/evictions)"
sleep 3; poweroff -f
EOF
chmod +x root/init
(cd root && find . | cpio -o -H newc 2>/dev/null) > iso/initrd
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 iso/isolinux/
cp kpkg/boot/vmlinuz-* iso/vmlinuz
cat > iso/isolinux/isolinux.cfg <<EOF
DEFAULT linux
LABEL linux
  KERNEL /vmlinuz
  APPEND initrd=/initrd console=ttyS0 quiet lpj=1000000 tsc=reliable mitigations=off tk=$SELECT
EOF
genisoimage -quiet -o boot.iso -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot \
    -boot-load-size 4 -boot-info-table -J -R iso
cat > bochsrc <<'EOF'
megs: 2048
cpu: model=corei7_skylake_x, count=1, ips=200000000
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
ata0-master: type=cdrom, path=boot.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=serial.txt
display_library: rfb, options="timeout=0"
log: bochs.log
clock: sync=none, time0=local
panic: action=fatal
EOF
printf 'c\nquit\n' > debugger.rc  # Debian's bochs has its debugger in: continue at once
echo "booting the emulated AVX-512 machine (15-25 minutes)..."
timeout 3600 bochs -q -f bochsrc -rc debugger.rc >bochs.out 2>&1 </dev/null || true
sed -n '/GUEST-START/,$p' serial.txt | grep -v -E '^\[ *[0-9.]+\] ' || true
grep -q 'GUEST-START.*i7-7800X' serial.txt && grep -q '^GUEST-RC 0' serial.txt
