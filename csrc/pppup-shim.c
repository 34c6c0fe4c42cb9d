/*
 * pppup-shim: the setuid-root entry of pppup's root helper.
 *
 * It does hygiene and nothing else, in the order of security.md (c): it takes
 * no argument, trusts nothing it inherits, takes the caller's identity from
 * the kernel, checks that fd 3 is the caller's own SOCK_SEQPACKET socket, and
 * execs a fixed Python on a fixed helper file with an argv it builds itself:
 *
 *   PYTHON -I -S HELPER --uid RUID --gid RGID --groups G1,G2,...
 *
 * Installed mode 4750 root:pppup.  It prints nothing (no stdio, no locale);
 * on any problem it _exits with one of the codes below and no fallback.
 * The client (pppup.helper_client) turns these codes into messages.
 *
 * Built with -DPPPUP_SHIM_TEST (never installed, not setuid), the last step
 * "become root and exec" is replaced by a report of what would be exec'd,
 * written to fd 3, after which the shim waits for one byte on fd 3 so a test
 * can inspect its /proc entry; every other step is the same code.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#if !defined(PPPUP_PYTHON) || !defined(PPPUP_HELPER_ENTRY)
#error "PPPUP_PYTHON and PPPUP_HELPER_ENTRY come from the Makefile (pppup_protocol/paths.py values)"
#endif

enum shim_exit {
	EXIT_USAGE = 110,     /* argc != 1: the shim takes no arguments */
	EXIT_STDIO = 111,     /* fds 0-2 could not be filled from /dev/null */
	EXIT_IDENTITY = 112,  /* not setuid root (euid != 0), or ids unreadable, or > MAX_GROUPS groups */
	EXIT_SOCKET = 113,    /* fd 3 is not the caller's own AF_UNIX SOCK_SEQPACKET socket */
	EXIT_HYGIENE = 114,   /* closing fds, signals, setsid, rlimits, umask or chdir failed */
	EXIT_SETID = 115,     /* becoming root failed or did not stick */
	EXIT_PRCTL = 116,     /* dumpable off / no-new-privs failed */
	EXIT_UNSAFE = 117,    /* interpreter or helper file not root-owned / writable by others / a symlink */
	EXIT_EXEC = 118,      /* execve failed */
};

#define COMM_FD 3
#define MAX_GROUPS 1024   /* more supplementary groups than this: refused, never truncated */

/* The whole environment of the helper: nothing inherited (loader, gettext and
 * PYTHON* variables).  LC_ALL=C so Python does no locale coercion. */
static char *const helper_env[] = {
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C",
	NULL,
};

static void fill_stdio(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		/* Lowest free fd is `fd` itself, since every lower one is open. */
		if (open("/dev/null", O_RDWR) != fd)
			_exit(EXIT_STDIO);
	}
}

static void check_comm_socket(uid_t ruid)
{
	struct stat st;
	struct ucred peer;
	int value;
	socklen_t len;

	if (fstat(COMM_FD, &st) != 0 || !S_ISSOCK(st.st_mode))
		_exit(EXIT_SOCKET);
	len = sizeof(value);
	if (getsockopt(COMM_FD, SOL_SOCKET, SO_DOMAIN, &value, &len) != 0 || value != AF_UNIX)
		_exit(EXIT_SOCKET);
	len = sizeof(value);
	if (getsockopt(COMM_FD, SOL_SOCKET, SO_TYPE, &value, &len) != 0 || value != SOCK_SEQPACKET)
		_exit(EXIT_SOCKET);
	len = sizeof(value);
	if (getsockopt(COMM_FD, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) != 0 || value != 0)
		_exit(EXIT_SOCKET);
	/* The peer must be the caller: a socket connected to a root daemon or to
	 * another user's process is a confused-deputy attempt (I1, I2). */
	len = sizeof(peer);
	if (getsockopt(COMM_FD, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || len != sizeof(peer)
	    || peer.pid <= 0 || peer.uid != ruid)
		_exit(EXIT_SOCKET);
}

static void close_other_fds(void)
{
	if (close_range(COMM_FD + 1, ~0U, 0) != 0) {
		if (errno != ENOSYS)
			_exit(EXIT_HYGIENE);
		/* Kernels before 5.9: walk up to the system-wide fd ceiling. */
		for (unsigned int fd = COMM_FD + 1; fd < 1048576; fd++)
			close((int)fd);
	}
	/* The helper never talks through the caller's stdio (a terminal the
	 * user controls, I6): 0-2 become /dev/null.  Close-then-open reuses the
	 * slot, so even a tiny inherited RLIMIT_NOFILE leaves room. */
	for (int fd = 0; fd <= 2; fd++) {
		close(fd);
		if (open("/dev/null", O_RDWR) != fd)
			_exit(EXIT_HYGIENE);
	}
}

/* Every disposition back to default through the raw syscall: glibc's
 * sigaction() refuses its two reserved real-time signals (32, 33) with
 * EINVAL, yet a caller can leave them ignored with rt_sigaction(2) and an
 * ignored signal survives exec.  An all-zero kernel sigaction is SIG_DFL
 * with no flags and an empty mask on every architecture. */
#define KERNEL_SIGSET_BYTES ((size_t)8)   /* the kernel's sigset_t: 64 signals */

static void reset_signals(void)
{
	static const struct itimerval disarmed;   /* all zero */
	unsigned long dfl[4] = { 0 };
	sigset_t none;

	/* Interval timers survive exec: an ITIMER_REAL the caller armed would
	 * kill the helper with SIGALRM at a moment of the caller's choosing,
	 * the line still locked and the caller's tty fd alive.  Disarmed
	 * before SIGALRM, SIGVTALRM and SIGPROF are back to their default. */
	if (setitimer(ITIMER_REAL, &disarmed, NULL) != 0 || setitimer(ITIMER_VIRTUAL, &disarmed, NULL) != 0
	    || setitimer(ITIMER_PROF, &disarmed, NULL) != 0)
		_exit(EXIT_HYGIENE);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sig, dfl, NULL, KERNEL_SIGSET_BYTES) != 0)
			_exit(EXIT_HYGIENE);
	}
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
		_exit(EXIT_HYGIENE);
}

/* Raising a hard limit needs CAP_SYS_RESOURCE, which some containers drop
 * from root's bounding set: then the inherited hard limit is kept if it is
 * at least `floor`, and anything lower is refused. */
static void set_limit(int resource, rlim_t soft, rlim_t hard, rlim_t floor)
{
	struct rlimit lim = { .rlim_cur = soft, .rlim_max = hard };

	if (setrlimit(resource, &lim) == 0)
		return;
	if (errno != EPERM || getrlimit(resource, &lim) != 0 || lim.rlim_max < floor)
		_exit(EXIT_HYGIENE);
	lim.rlim_cur = soft < lim.rlim_max ? soft : lim.rlim_max;
	if (setrlimit(resource, &lim) != 0)
		_exit(EXIT_HYGIENE);
}

/* Fixed limits, every one, whatever the caller set (R1-R3): no core; no
 * file-size limit so a lock or state write is never cut short by SIGXFSZ;
 * enough fds, memory and stack for Python and pppd; no CPU limit (a
 * supervisor lives for hours). */
static void reset_limits(void)
{
	set_limit(RLIMIT_CORE, 0, 0, 0);
	set_limit(RLIMIT_FSIZE, RLIM_INFINITY, RLIM_INFINITY, RLIM_INFINITY);
	set_limit(RLIMIT_NOFILE, 1024, 4096, 256);
	set_limit(RLIMIT_NPROC, RLIM_INFINITY, RLIM_INFINITY, 256);
	set_limit(RLIMIT_STACK, 8UL << 20, 8UL << 20, 8UL << 20);
	set_limit(RLIMIT_CPU, RLIM_INFINITY, RLIM_INFINITY, RLIM_INFINITY);
	set_limit(RLIMIT_SIGPENDING, 4096, 4096, 64);
	/* The rest as Debian gives a login: pppd's plugin mlocks the secret. */
	set_limit(RLIMIT_MEMLOCK, 8UL << 20, 8UL << 20, 64UL << 10);
	set_limit(RLIMIT_MSGQUEUE, 819200, 819200, 0);
	set_limit(RLIMIT_NICE, 0, 0, 0);
	set_limit(RLIMIT_RTPRIO, 0, 0, 0);
	set_limit(RLIMIT_RTTIME, RLIM_INFINITY, RLIM_INFINITY, 0);
	set_limit(RLIMIT_LOCKS, RLIM_INFINITY, RLIM_INFINITY, 0);
#ifndef __SANITIZE_ADDRESS__
	/* ASan reserves terabytes of shadow address space: limited only outside
	 * the sanitizer test build. */
	set_limit(RLIMIT_AS, 1UL << 30, 1UL << 30, 1UL << 30);
	set_limit(RLIMIT_DATA, 1UL << 30, 1UL << 30, 1UL << 30);
#endif
}

/* Scheduling and process state that survives exec (R4).  Inherited
 * niceness or a real-time policy would starve or skew pppd's LCP timers; a
 * huge timer slack (PR_SET_TIMERSLACK) stretches every poll timeout of the
 * helper, so its dial time limit would not take the line back; the
 * personality, the I/O priority, the CPU affinity and the OOM score are the
 * caller's to set for their own processes, not for root's. */
static void reset_scheduling(void)
{
	struct sched_param normal = { .sched_priority = 0 };
	cpu_set_t every;
	int fd;

	if (sched_setscheduler(0, SCHED_OTHER, &normal) != 0 || setpriority(PRIO_PROCESS, 0, 0) != 0)
		_exit(EXIT_HYGIENE);
	if (prctl(PR_SET_TIMERSLACK, 50000UL, 0, 0, 0) != 0)      /* the kernel's default, 50 us */
		_exit(EXIT_HYGIENE);
	/* exec clears only some personality flags for setuid (e.g. not
	 * UNAME26 or STICKY_TIMEOUTS): plain Linux. */
	if (personality(PER_LINUX) < 0 || personality(0xffffffff) != PER_LINUX)
		_exit(EXIT_HYGIENE);
	if (syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, 0 /* class none: from nice */) != 0)
		_exit(EXIT_HYGIENE);
	CPU_ZERO(&every);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		CPU_SET(cpu, &every);
	if (sched_setaffinity(0, sizeof(every), &every) != 0)
		_exit(EXIT_HYGIENE);
	/* Lowering a raised score needs CAP_SYS_RESOURCE (EACCES without it,
	 * as in some containers): then the caller only made their own helper
	 * the OOM killer's first choice, which is theirs to do. */
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || (write(fd, "0", 1) != 1 && errno != EACCES))
		_exit(EXIT_HYGIENE);
	close(fd);
}

/* Every component of `path` (absolute, no symlinks anywhere) must be owned by
 * root and not writable by group or other; the last one a regular file. */
static void check_root_chain(const char *path)
{
	char component[256];
	const char *p = path;
	int dirfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

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
		if (n == 0 || n >= sizeof(component))
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
	/* The loop checked ownership and mode of the last component; a symlink
	 * opened with O_NOFOLLOW shows up here as S_ISLNK and is refused. */
	if (!S_ISREG(st.st_mode))
		_exit(EXIT_UNSAFE);
	close(dirfd);  /* O_CLOEXEC anyway; closed so the test build shows no leak */
}

/* Decimal digits of `value` at `out`, NUL-terminated; returns the length. */
static size_t format_id(char *out, unsigned long value)
{
	char digits[24];
	size_t n = 0, len;

	do {
		digits[n++] = (char)('0' + value % 10);
		value /= 10;
	} while (value != 0);
	for (len = 0; len < n; len++)
		out[len] = digits[n - 1 - len];
	out[len] = '\0';
	return len;
}

#ifdef PPPUP_SHIM_TEST
/* Test build: report argv and envp (NUL-terminated strings, an empty string
 * between the two lists) on fd 3, then wait for one byte and exit 0. */
static void report_and_wait(char *const argv[], char *const envp[])
{
	static char buf[4096 + 32];
	size_t len = 0;
	char byte;

	for (int list = 0; list < 2; list++) {
		char *const *strings = list == 0 ? argv : envp;
		for (int i = 0; strings[i] != NULL; i++) {
			size_t n = strlen(strings[i]) + 1;
			if (len + n + 1 > sizeof(buf))
				_exit(EXIT_EXEC);
			memcpy(buf + len, strings[i], n);
			len += n;
		}
		buf[len++] = '\0';
	}
	if (send(COMM_FD, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		_exit(EXIT_EXEC);
	(void)!read(COMM_FD, &byte, 1);
	_exit(0);
}
#endif

int main(int argc, char *argv[])
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	static gid_t groups[MAX_GROUPS];
	static char uid_arg[24], gid_arg[24], groups_arg[MAX_GROUPS * 11 + 1];
	int ngroups;
	size_t len = 0;

	/* 1. Before argv or envp are looked at: argc 0 makes argv[1] alias
	 *    envp[0] (CVE-2021-4034); any argument at all is refused (A1). */
	if (argc != 1 || argv == NULL)
		_exit(EXIT_USAGE);
	/* 2. A file opened as root must never land on a closed 0-2 (F1). */
	fill_stdio();
	/* 3. Identity from the kernel, once. */
	if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0 || euid != 0)
		_exit(EXIT_IDENTITY);
	ngroups = getgroups(MAX_GROUPS, groups);
	if (ngroups < 0)
		_exit(EXIT_IDENTITY);
	/* 4. Nothing of the caller's environment survives (E1-E6). */
	if (clearenv() != 0)
		_exit(EXIT_HYGIENE);
	/* 5. fd 3 is the caller's end of a socketpair (F3, I1, I2). */
	check_comm_socket(ruid);
	/* 6-10. Process hygiene: fds, signals and timers, session, limits,
	 *       scheduling, umask, cwd. */
	close_other_fds();
	reset_signals();
	if (setsid() < 0)
		_exit(EXIT_HYGIENE);
	reset_limits();
	reset_scheduling();
	umask(022);
	if (chdir("/") != 0)
		_exit(EXIT_HYGIENE);

	format_id(uid_arg, ruid);
	format_id(gid_arg, rgid);
	for (int i = 0; i < ngroups; i++) {
		if (i > 0)
			groups_arg[len++] = ',';
		len += format_id(groups_arg + len, groups[i]);
	}
	char *const helper_argv[] = {
		PPPUP_PYTHON, "-I", "-S", PPPUP_HELPER_ENTRY,
		"--uid", uid_arg, "--gid", gid_arg, "--groups", groups_arg, NULL,
	};

#ifndef PPPUP_SHIM_TEST
	/* 11. Root in every id, no supplementary groups; verified, since an
	 *     unchecked set*id return was CVE-2006-2194.  From here on the caller
	 *     can no longer signal or ptrace us (S1, P1).  (Skipped only by the
	 *     test build, which is not setuid.) */
	if (setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)
		_exit(EXIT_SETID);
	if (getresuid(&ruid, &euid, &suid) != 0 || ruid != 0 || euid != 0 || suid != 0
	    || getresgid(&rgid, &egid, &sgid) != 0 || rgid != 0 || egid != 0 || sgid != 0
	    || getgroups(0, NULL) != 0)
		_exit(EXIT_SETID);
#endif
	/* 12. The helper repeats dumpable=0 after exec (exec resets it). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		_exit(EXIT_PRCTL);
	/* 13. No planted interpreter or helper (Y1-Y4). */
	check_root_chain(PPPUP_PYTHON);
	check_root_chain(PPPUP_HELPER_ENTRY);
	/* 14. A fixed interpreter and file, an argv built here, a constant env. */
#ifdef PPPUP_SHIM_TEST
	report_and_wait(helper_argv, helper_env);
#else
	execve(PPPUP_PYTHON, helper_argv, helper_env);
	_exit(EXIT_EXEC);
#endif
}
