/*
 * pppup-supervise: the supervisor of one live link, small enough to sit
 * beside pppd for the hours a link lasts (a Python supervisor costs its
 * interpreter: ~14 MB PSS against pppd's ~2.4 MB).
 *
 * The root helper execs it once pppd has brought IP up and the client has
 * gone (pppup_helper.session.LineSession.supervise).  exec keeps the pid, so
 * what names the helper's pid stays true: the UUCP locks, the session record
 * (supervisor pid + start time) and pppd's parent.  Installed root-owned 0755
 * and not setuid: run by anyone else it is a program that waits, nothing more.
 *
 * What it inherits, and nothing else (fds 6 and up are closed first thing):
 *
 *   0-2  /dev/null (the shim's)          3  the line: the helper's own tty fd
 *   4    read end of pppd's log pipe     5  a pidfd of pppd, our child
 *
 *   pppup-supervise FINISH-ARG...
 *
 * It waits for pppd to exit, keeping the tail of pppd's log (pppd must never
 * block on a full pipe; the finish step parses its last lines: the byte
 * counts).  SIGTERM, SIGINT or SIGHUP make it stop pppd through the pidfd
 * (SIGTERM, SIGKILL after a grace).  Once pppd has exited it does the one
 * step that cannot wait for an interpreter: DTR low on the line (re-opened
 * first if the kernel hung it up: pppd made the line its controlling tty).
 * Then it execs the helper's finish step, same pid again:
 *
 *   PYTHON -I -S HELPER --finish FINISH-ARG... --pppd-status S --ended-ns T
 *                        --dtr dropped|none|failed --dtr-ns T --stop-signal N
 *
 * with fd 3 the line (a live description) and fd 4 a memfd holding the log
 * tail.  The finish step waits out the rest of the DTR hold while Python
 * starts (0.3-1 s under TCG), sends the modem's reset command, revokes the
 * line, releases the locks, writes the end record and the audit line.
 *
 * On any failure it _exits with a code below: pppd then gets SIGTERM from
 * the kernel (PR_SET_PDEATHSIG, set when the helper forked it), the locks
 * name a dead pid, and the next helper converges the line (links.py).
 *
 * Built with -DPPPUP_SUPERVISE_TEST (never installed), HELPER is a test
 * entry that runs the repository's finish step; the code is the same.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#if !defined(PPPUP_PYTHON) || !defined(PPPUP_HELPER_ENTRY)
#error "PPPUP_PYTHON and PPPUP_HELPER_ENTRY come from the Makefile (pppup_protocol/paths.py values)"
#endif

enum supervise_exit {
	EXIT_USAGE = 120,     /* no finish arguments, too many, or one too long */
	EXIT_FDS = 121,       /* fds 3-5 are not a tty, a pipe and a pidfd of our child */
	EXIT_SETUP = 122,     /* prctl, closing fds, signals or signalfd failed */
	EXIT_WAIT = 123,      /* poll or waitid on pppd failed */
	EXIT_UNSAFE = 124,    /* interpreter or helper file not root-owned / writable by others */
	EXIT_EXEC = 125,      /* execve of the finish step failed */
};

#define LINE_FD 3
#define LOG_FD 4
#define PIDFD 5
#define MAX_ARGS 32            /* finish arguments the helper may pass through */
#define MAX_ARG_LEN 4096
#define LOG_TAIL 8192          /* bytes of pppd's log kept for the finish step */
#define KILL_GRACE_MS 5000     /* SIGTERM to pppd, then SIGKILL (pppd.TERM_GRACE_S) */

/* The finish step's whole environment, as the shim gives the helper. */
static char *const finish_env[] = {
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C",
	NULL,
};

static char log_tail[LOG_TAIL];
static size_t log_len;

static long long monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* The first lines are long known (interface and addresses went into the
 * session record at IP-up); when the buffer is full, the older half goes,
 * cut at a line boundary so no line reaches the parser half-cut. */
static void forget_older_half(void)
{
	char *half = log_tail + sizeof(log_tail) / 2;
	char *newline = memchr(half, '\n', (size_t)(log_tail + log_len - half));
	size_t keep = newline != NULL ? (size_t)(log_tail + log_len - (newline + 1)) : 0;

	memmove(log_tail, log_tail + log_len - keep, keep);
	log_len = keep;
}

static void keep_log(const char *data, size_t n)
{
	while (n > 0) {
		if (log_len == sizeof(log_tail))
			forget_older_half();
		size_t take = sizeof(log_tail) - log_len;
		if (take > n)
			take = n;
		memcpy(log_tail + log_len, data, take);
		log_len += take;
		data += take;
		n -= take;
	}
}

/* Whatever pppd has written; false at end of file (every writer closed it). */
static int read_log(void)
{
	char chunk[4096];

	for (;;) {
		ssize_t n = read(LOG_FD, chunk, sizeof(chunk));
		if (n > 0) {
			keep_log(chunk, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && errno == EAGAIN;
	}
}

static void check_inherited_fds(void)
{
	struct stat st;
	siginfo_t info;

	if (fstat(LINE_FD, &st) != 0 || !S_ISCHR(st.st_mode) || !isatty(LINE_FD))
		_exit(EXIT_FDS);
	if (fstat(LOG_FD, &st) != 0 || !S_ISFIFO(st.st_mode))
		_exit(EXIT_FDS);
	/* A pidfd of a child of ours answers waitid; anything else is EINVAL or
	 * ECHILD.  WNOWAIT: look, do not reap. */
	memset(&info, 0, sizeof(info));
	if (waitid(P_PIDFD, PIDFD, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
		_exit(EXIT_FDS);
	/* The helper set it already; the final drain relies on it. */
	int flags = fcntl(LOG_FD, F_GETFL);
	if (flags < 0 || fcntl(LOG_FD, F_SETFL, flags | O_NONBLOCK) != 0)
		_exit(EXIT_FDS);
}

#define KERNEL_SIGSET_BYTES ((size_t)8)   /* the kernel's sigset_t: 64 signals */

/* Default dispositions (Python left SIGPIPE and SIGXFSZ ignored), and the
 * stop signals blocked and read from a signalfd instead: no handler runs. */
static int stop_signals_fd(void)
{
	unsigned long dfl[4] = { 0 };   /* kernel sigaction: SIG_DFL, no flags, empty mask */
	sigset_t stop;

	/* The raw syscall, because glibc's sigaction() refuses its reserved
	 * signals 32 and 33, which an ignoring ancestor would pass on to pppd. */
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sig, dfl, NULL, KERNEL_SIGSET_BYTES) != 0)
			_exit(EXIT_SETUP);
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	if (sigprocmask(SIG_SETMASK, &stop, NULL) != 0)
		_exit(EXIT_SETUP);
	int fd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		_exit(EXIT_SETUP);
	return fd;
}

/* Until pppd has exited; its raw wait status.  *stop_signal: the signal that
 * made us stop pppd, 0 if it ended by itself. */
static int wait_for_pppd(int sigfd, int *stop_signal)
{
	int log_open = 1;
	long long kill_at = 0;
	siginfo_t info;

	for (;;) {
		struct pollfd fds[3] = {
			{ .fd = PIDFD, .events = POLLIN },
			{ .fd = sigfd, .events = POLLIN },
			{ .fd = log_open ? LOG_FD : -1, .events = POLLIN },
		};
		int timeout = -1;
		if (kill_at != 0) {
			long long left = (kill_at - monotonic_ns()) / 1000000;
			timeout = left > 0 ? (int)left : 0;
		}
		if (poll(fds, 3, timeout) < 0) {
			if (errno == EINTR)
				continue;
			_exit(EXIT_WAIT);
		}
		if (fds[0].revents)
			break;
		if (fds[2].revents)
			log_open = read_log();
		if (fds[1].revents) {
			struct signalfd_siginfo got;
			if (read(sigfd, &got, sizeof(got)) == (ssize_t)sizeof(got) && *stop_signal == 0) {
				*stop_signal = (int)got.ssi_signo;
				pidfd_send_signal(PIDFD, SIGTERM, NULL, 0);
				kill_at = monotonic_ns() + KILL_GRACE_MS * 1000000LL;
			}
		}
		if (kill_at != 0 && monotonic_ns() >= kill_at) {
			pidfd_send_signal(PIDFD, SIGKILL, NULL, 0);
			kill_at = 0;
		}
	}
	memset(&info, 0, sizeof(info));
	while (waitid(P_PIDFD, PIDFD, &info, WEXITED) != 0) {
		if (errno != EINTR)
			_exit(EXIT_WAIT);
	}
	if (log_open)
		read_log();        /* what pppd wrote last (non-blocking: no wait for EOF) */
	if (info.si_code == CLD_EXITED)
		return W_EXITCODE(info.si_status, 0);
	return W_EXITCODE(0, info.si_status) | (info.si_code == CLD_DUMPED ? WCOREFLAG : 0);
}

/* pppd led its own session and re-opened the line without O_NOCTTY, so the
 * line was its controlling tty: its exit hung up every description of it,
 * ours included.  A fresh one through /proc/self/fd reaches the same pinned
 * device (no path is resolved again), checked by its identity. */
static void renew_line_if_hung_up(void)
{
	struct termios attrs;
	struct stat old, fresh;

	if (tcgetattr(LINE_FD, &attrs) == 0 || errno != EIO)
		return;
	int fd = open("/proc/self/fd/3", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(LINE_FD, &old) == 0 && fstat(fd, &fresh) == 0 && S_ISCHR(fresh.st_mode)
	    && old.st_rdev == fresh.st_rdev && old.st_dev == fresh.st_dev && old.st_ino == fresh.st_ino)
		dup2(fd, LINE_FD);    /* the new fd 3 is inheritable: dup2 clears FD_CLOEXEC */
	close(fd);
}

/* "dropped" (at *when), "none" (no modem-control lines: a pty), or "failed"
 * (the finish step tries again). */
static const char *drop_dtr(long long *when)
{
	int dtr = TIOCM_DTR;

	*when = 0;
	if (ioctl(LINE_FD, TIOCMBIC, &dtr) == 0) {
		*when = monotonic_ns();
		return "dropped";
	}
	return errno == ENOTTY || errno == EINVAL ? "none" : "failed";
}

/* The log tail as fd 4, replacing the pipe: a memfd, so its size never
 * matters; /dev/null (no facts) if memfds are unavailable. */
static void hand_over_log(void)
{
	int fd = memfd_create("pppd-log-tail", MFD_CLOEXEC);

	if (fd >= 0) {
		size_t done = 0;
		while (done < log_len) {
			ssize_t n = write(fd, log_tail + done, log_len - done);
			if (n <= 0)
				break;
			done += (size_t)n;
		}
		if (done != log_len || lseek(fd, 0, SEEK_SET) != 0) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0)
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || dup2(fd, LOG_FD) != LOG_FD)
		_exit(EXIT_SETUP);
	close(fd);
}

/* The shim's rule for what it execs: every component of `path` owned by
 * root, not writable by group or other, no symlink; the last a regular file. */
static void check_root_chain(const char *path)
{
	char component[256];
	const char *p = path;
	struct stat st;
	int dirfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (dirfd < 0 || path[0] != '/')
		_exit(EXIT_UNSAFE);
	for (;;) {
		if (fstat(dirfd, &st) != 0 || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
			_exit(EXIT_UNSAFE);
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		size_t n = strcspn(p, "/");
		if (n >= sizeof(component))
			_exit(EXIT_UNSAFE);
		memcpy(component, p, n);
		component[n] = '\0';
		p += n;
		int next = openat(dirfd, component, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		close(dirfd);
		if (next < 0)
			_exit(EXIT_UNSAFE);
		dirfd = next;
	}
	close(dirfd);
	if (!S_ISREG(st.st_mode))
		_exit(EXIT_UNSAFE);
}

int main(int argc, char *argv[])
{
	static char status_arg[16], ended_arg[24], dtr_ns_arg[24], signal_arg[16];
	char *finish_argv[MAX_ARGS + 16];
	int stop_signal = 0, n = 0;
	long long dtr_ns;

	/* exec reset "dumpable": nobody may attach to a root process. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		_exit(EXIT_SETUP);
	if (argc < 2 || argc > MAX_ARGS + 1)
		_exit(EXIT_USAGE);
	for (int i = 1; i < argc; i++)
		if (strnlen(argv[i], MAX_ARG_LEN + 1) > MAX_ARG_LEN)
			_exit(EXIT_USAGE);
	if (close_range(PIDFD + 1, ~0U, 0) != 0)
		_exit(EXIT_SETUP);
	check_inherited_fds();
	int sigfd = stop_signals_fd();

	int status = wait_for_pppd(sigfd, &stop_signal);
	long long ended = monotonic_ns();
	renew_line_if_hung_up();
	const char *dtr = drop_dtr(&dtr_ns);

	hand_over_log();
	close(PIDFD);
	close(sigfd);
	/* The finish step is short and bounded, and pppd is gone: a late stop
	 * signal must not cut it short.  Ignored stays ignored across exec. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
		_exit(EXIT_SETUP);

	snprintf(status_arg, sizeof(status_arg), "%d", status);
	snprintf(ended_arg, sizeof(ended_arg), "%lld", ended);
	snprintf(dtr_ns_arg, sizeof(dtr_ns_arg), "%lld", dtr_ns);
	snprintf(signal_arg, sizeof(signal_arg), "%d", stop_signal);
	finish_argv[n++] = PPPUP_PYTHON;
	finish_argv[n++] = "-I";
	finish_argv[n++] = "-S";
	finish_argv[n++] = PPPUP_HELPER_ENTRY;
	finish_argv[n++] = "--finish";
	for (int i = 1; i < argc; i++)
		finish_argv[n++] = argv[i];
	char *results[] = { "--pppd-status", status_arg, "--ended-ns", ended_arg, "--dtr", (char *)dtr,
			    "--dtr-ns", dtr_ns_arg, "--stop-signal", signal_arg };
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
		finish_argv[n++] = results[i];
	finish_argv[n] = NULL;

	check_root_chain(PPPUP_PYTHON);
	check_root_chain(PPPUP_HELPER_ENTRY);
	execve(PPPUP_PYTHON, finish_argv, finish_env);
	_exit(EXIT_EXEC);
}
