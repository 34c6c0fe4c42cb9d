"""The QEMU guest that runs the tests needing a kernel with PPP.

The host kernel has no PPP, so `vm`-marked tests run inside a small guest:
Debian's own kernel booted directly under QEMU, a busybox initramfs, and the
host's root shared read-only over 9p with tmpfs overlays where tests write.

    image.py   fetch Debian's kernel, pick the modules, build the initramfs (cached)
    init.sh    the guest's PID 1: mounts, overlays, modules, runs one command
    run.py     boot, run one command in the guest, stream its output, exit with its status
    suite.py   `make test-vm`: run the vm-marked pytest files in the guest, summarise
    wiring.py  guest side: which /dev/ttySN is looped to which virtio port, DTR
    link.py    guest side: network namespaces, real pppd processes, transcripts
    smoke.py   the two-modem, two-pppd scenario (smoke test and `make demo-smoke`)
    flows.py   guest side of the user-flow tests: users, policy, peer, the ISP and callback worlds
    demo.py    `make demo`: a user's call-back link with pppup, ping, status, pppdown
"""
