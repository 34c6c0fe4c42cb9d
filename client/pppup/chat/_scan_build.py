"""cffi build script for pppup.chat._scan: the quiet expect loop in C.

scanner.py explains why this loop is compiled and how it is used.  The
module is built with the package (setup.py `cffi_modules`), like the
helper's _syscalls, never at run time.
"""
from cffi import FFI

ffibuilder = FFI()

ffibuilder.cdef(
    """
    int pppup_chat_scan(int fd, const unsigned int *next, const unsigned int *distance,
                        const int *winner, unsigned int *state, int budget, int *taken);
    """
)

ffibuilder.set_source(
    "pppup.chat._scan",
    r"""
    #include <unistd.h>

    #define SYMBOLS 128       /* matcher.SYMBOLS: bytes lose bit 7 first, as in chat */
    #define MAX_READ 4096     /* matcher.MAX_READ: the caller's largest budget */

    /* Read and match until a pattern completes or `budget` bytes are taken.
     *
     * Each read(2) asks for at most distance[state] bytes, so no pattern
     * can complete before the last byte of a read: nothing past a match is
     * ever taken off the line.  `budget` is what the kernel said was queued
     * (FIONREAD), so no read blocks.  The automaton's tables come from
     * Matcher.tables().  Returns the pattern completed by the last byte
     * read, or -1 when the budget is used up or a read returned no data
     * (end of file or an error: the caller reads again and reports it).
     * *state and *taken (bytes read) are set in every case.
     */
    static int pppup_chat_scan(int fd, const unsigned int *next, const unsigned int *distance,
                               const int *winner, unsigned int *state, int budget, int *taken)
    {
        unsigned char block[MAX_READ];
        unsigned int current = *state;
        int total = 0;
        int found = -1;

        while (total < budget) {
            size_t want = distance[current];
            if (want == 0)
                want = 1;                 /* an empty pattern: completes on the next byte */
            if (want > (size_t)(budget - total))
                want = (size_t)(budget - total);
            if (want > sizeof(block))
                want = sizeof(block);
            ssize_t got = read(fd, block, want);
            if (got <= 0)
                break;
            total += (int)got;
            for (ssize_t at = 0; at < got; at++)
                current = next[current * SYMBOLS + (block[at] & 0x7F)];
            if (winner[current] >= 0) {
                found = winner[current];
                break;
            }
        }
        *state = current;
        *taken = total;
        return found;
    }
    """,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
