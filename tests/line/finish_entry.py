"""The helper entry the TEST build of the link supervisor execs
(csrc/pppup-supervise-asan, Makefile SUPERVISE_TEST_DEFINES): like the
installed pppup-helper.py, but it runs the repository's code (helper/ and the
development venv's prctl and cffi backend), so tests/line can supervise real
pppd processes without `make install`.  Never installed; root runs it.

`--finish --report-to FILE ...` (only the C unit tests pass it) stands in for
the finish step: it writes what the supervisor handed over (argv, fds,
signals, environment, the log tail) to FILE as JSON and exits 0.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:] = ["/usr/lib/python3.11", "/usr/lib/python3.11/lib-dynload", os.path.join(ROOT, "helper"),
               os.path.join(ROOT, ".venv", "lib", "python3.11", "site-packages")]
sys.dont_write_bytecode = True


def report(path: str, argv: list[str]) -> None:
    import json
    import signal
    import termios

    import prctl
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass
    try:
        termios.tcgetattr(3)
        line_alive = True
    except termios.error:
        line_alive = False
    st = os.fstat(3)
    log = os.read(4, 1 << 20)
    out = {
        "argv": argv, "pid": os.getpid(), "fds": fds, "line_alive": line_alive,
        "line_rdev": [os.major(st.st_rdev), os.minor(st.st_rdev)], "line_ino": st.st_ino,
        "line_inheritable": os.get_inheritable(3), "log": log.decode("latin-1"),
        "ignored": sorted(s.name for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
                          if signal.getsignal(s) == signal.SIG_IGN),
        "blocked": sorted(s.name for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "environ": dict(os.environ), "dumpable": prctl.get_dumpable(),
    }
    with open(path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    if sys.argv[1:3] == ["--finish", "--report-to"]:
        report(sys.argv[3], sys.argv[4:])
        os._exit(0)
    import pppup_helper.main
    os._exit(pppup_helper.main.main())
