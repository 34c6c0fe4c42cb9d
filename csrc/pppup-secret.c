/*
 * pppup-secret.so - a pppd 2.4.9 plugin that takes the PAP/CHAP user name
 * and secret from a pipe instead of argv, the environment or a secrets file.
 *
 *   pppd ... plugin /usr/local/lib/pppup/pppup-secret.so pppup-secret-fd 3
 *
 * The root helper writes "USER\0SECRET\0" into the pipe, closes its end and
 * starts pppd with the read end as fd 3.  When pppd parses the option, this
 * plugin reads the whole pipe (bounded), checks the format, closes the fd,
 * sets pppd's `user` and keeps the secret in a locked buffer that is wiped
 * when pppd exits.  pppd then asks for the secret through pap_passwd_hook /
 * chap_passwd_hook whenever it authenticates itself to the peer.
 *
 * Hooks.  pap_passwd_hook(user, NULL) answers "a secret exists", so pppd
 * offers PAP; with a buffer it copies the secret.  chap_passwd_hook copies it
 * for CHAP (and EAP-MD5).  chap_check_hook answers 1: pppd 2.4.9 calls it
 * (through have_chap_secret) to decide whether it may authenticate itself
 * with CHAP, and the hook has no arguments to tell that apart from checking
 * the peer; when the policy's peer file demands that the *peer* authenticate,
 * that check still needs a real chap-secrets entry at verification time, so
 * it fails closed.  pap_check_hook is left alone: it is only about the peer.
 *
 * Nothing here logs the secret; errors name the problem, never the data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pppd/pppd.h>

char pppd_version[] = VERSION;

/* Room for "USER\0SECRET\0": pppd's own limits for both, plus one byte to
 * notice an over-long payload. */
#define PAYLOAD_MAX (MAXNAMELEN + MAXSECRETLEN + 1)

static char secret[MAXSECRETLEN];
static int have_secret = 0;

static void wipe(void *buf, size_t len)
{
    /* explicit_bzero is not optimised away */
    explicit_bzero(buf, len);
}

static void wipe_at_exit(void *arg, int unused)
{
    (void)arg;
    (void)unused;
    wipe(secret, sizeof(secret));
    have_secret = 0;
}

static int read_payload(int fd, char *buf, size_t size, size_t *got)
{
    size_t n = 0;

    for (;;) {
        ssize_t r;

        if (n == size)
            return -1;              /* too long */
        r = read(fd, buf + n, size - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *got = n;
    return 0;
}

static int printable_ascii(const char *s, int allow_space)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c < (allow_space ? 0x20 : 0x21) || c > 0x7e)
            return 0;
    }
    return 1;
}

/* Option handler: "pppup-secret-fd N". */
static int take_secret_fd(char **argv)
{
    char payload[PAYLOAD_MAX];
    char *end;
    long fd;
    size_t got = 0, user_len, secret_len;
    struct stat st;
    int ok = 0;

    if (have_secret) {
        option_error("pppup-secret: the secret was already given once");
        return 0;
    }
    errno = 0;
    fd = strtol(argv[0], &end, 10);
    if (errno || *end || end == argv[0] || fd < 3 || fd > 1023) {
        option_error("pppup-secret: the fd must be a number from 3 to 1023");
        return 0;
    }
    if (fstat((int)fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
        option_error("pppup-secret: fd %ld is not a pipe", fd);
        if (fd >= 0)
            close((int)fd);
        return 0;
    }
    (void)mlock(payload, sizeof(payload));
    if (read_payload((int)fd, payload, sizeof(payload), &got) < 0) {
        option_error("pppup-secret: cannot read the user name and secret from fd %ld", fd);
        goto out;
    }
    /* Exactly two NUL-terminated fields and nothing after them. */
    user_len = strnlen(payload, got);
    if (user_len == got || user_len == 0 || user_len >= MAXNAMELEN) {
        option_error("pppup-secret: malformed data on fd %ld (user name)", fd);
        goto out;
    }
    secret_len = strnlen(payload + user_len + 1, got - user_len - 1);
    if (user_len + 1 + secret_len + 1 != got || secret_len >= MAXSECRETLEN) {
        option_error("pppup-secret: malformed data on fd %ld (secret)", fd);
        goto out;
    }
    if (!printable_ascii(payload, 0) || !printable_ascii(payload + user_len + 1, 1)) {
        option_error("pppup-secret: the user name or secret is not printable ASCII");
        goto out;
    }
    (void)mlock(secret, sizeof(secret));
    memcpy(user, payload, user_len + 1);
    memcpy(secret, payload + user_len + 1, secret_len + 1);
    have_secret = 1;
    ok = 1;
out:
    wipe(payload, sizeof(payload));
    close((int)fd);
    return ok;
}

static option_t options[] = {
    { .name = "pppup-secret-fd", .type = o_special, .addr = (void *)take_secret_fd,
      .description = "Read the PAP/CHAP user name and secret from this pipe (pppup)",
      .flags = OPT_PRIV },
    { .name = NULL }
};

static int pap_passwd(char *user_name, char *passwd)
{
    (void)user_name;
    if (!have_secret)
        return -1;                  /* not ours: let pppd look elsewhere */
    if (passwd != NULL)
        strlcpy(passwd, secret, MAXSECRETLEN);
    return 1;
}

static int chap_passwd(char *user_name, char *passwd)
{
    (void)user_name;
    if (!have_secret)
        return -1;
    strlcpy(passwd, secret, MAXSECRETLEN);
    return 1;
}

static int chap_check(void)
{
    return have_secret ? 1 : -1;
}

void plugin_init(void)
{
    add_options(options);
    pap_passwd_hook = pap_passwd;
    chap_passwd_hook = chap_passwd;
    chap_check_hook = chap_check;
    add_notifier(&exitnotify, wipe_at_exit, NULL);
}
