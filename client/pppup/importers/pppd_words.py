"""pppd's option files and secrets files: reading words as pppd does, writing them back safely.

Reading follows pppd 2.4.9's getword() (options.c), learnt from its source:
white space separates words; `#` outside quotes starts a comment to the end
of the line (also in the middle of a word, which it ends); single or double
quotes group, and may open and close anywhere in a word; a backslash
escapes the next character everywhere, quotes included, with C's letters
(\\a \\b \\f \\n \\r \\t), \\s for a space, \\ooo octal and \\xhh hex;
backslash-newline joins lines.

The option table says which options take an argument, so a stream of words
becomes options (`OptionUse`).  It lists pppd 2.4.9's options (pppd(8) and
the old dash forms still accepted); anything else is reported, not guessed.
"""
from __future__ import annotations

import re
from typing import NamedTuple

_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "s": " ", "t": "\t"}
_OCTAL = "01234567"
_HEX = "0123456789abcdefABCDEF"


class Word(NamedTuple):
    text: str
    line: int          # 1-based line where the word starts
    first: bool        # the first word on its line (secrets files are line-based)


def read_words(text: str) -> list[Word]:
    """Every word of an option or secrets file, as pppd's getword() sees them."""
    words: list[Word] = []
    index, line, size = 0, 1, len(text)
    line_has_word = False
    while index < size:
        char = text[index]
        if char == "\n":
            line += 1
            line_has_word = False
            index += 1
            continue
        if char == "\\" and index + 1 < size and text[index + 1] == "\n":
            line += 1
            index += 2
            continue
        if char.isspace():
            index += 1
            continue
        if char == "#":
            end = text.find("\n", index)
            index = size if end < 0 else end
            continue
        start_line = line
        value: list[str] = []
        quote = ""
        while index < size:
            char = text[index]
            if char == "\\" and index + 1 < size:
                index += 1
                escaped = text[index]
                if escaped == "\n":
                    line += 1
                    index += 1
                    continue
                if escaped in _OCTAL:
                    digits = ""
                    while index < size and len(digits) < 3 and text[index] in _OCTAL:
                        digits += text[index]
                        index += 1
                    value.append(chr(int(digits, 8) & 0xFF))
                    continue
                if escaped == "x":
                    index += 1
                    digits = ""
                    while index < size and len(digits) < 2 and text[index] in _HEX:
                        digits += text[index]
                        index += 1
                    value.append(chr(int(digits, 16)) if digits else "\0")
                    continue
                value.append(_C_ESCAPES.get(escaped, escaped))
                index += 1
                continue
            if quote:
                if char == quote:
                    quote = ""
                else:
                    if char == "\n":
                        line += 1
                    value.append(char)
                index += 1
                continue
            if char in "\"'":
                quote = char
                index += 1
                continue
            if char.isspace() or char == "#":
                break
            value.append(char)
            index += 1
        words.append(Word("".join(value), start_line, not line_has_word))
        line_has_word = True
    return words


_BARE = re.compile(r"[A-Za-z0-9_./:,+=@%*-]+")


def quote_word(text: str) -> str:
    """`text` written so that read_words() gives it back exactly."""
    if _BARE.fullmatch(text):
        return text
    out = []
    for char in text:
        if char in "\\\"":
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):03o}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


# ------------------------------------------------------------------ the option table

# pppd 2.4.9 options that take one argument (pppd(8); options.c and the
# protocol modules).  Every other known option is a flag.
ARGUMENT_OPTIONS = frozenset("""
    active-filter allow-ip allow-number asyncmap bsdcomp ca call callback cert chap-interval
    chap-max-challenge chap-restart chap-timeout child-timeout connect connect-delay crl crl-dir
    defaultroute-metric deflate disconnect domain eap-interval eap-max-rreq eap-max-sreq eap-restart
    eap-timeout endpoint escape file holdoff idle ifname init ipcp-max-configure ipcp-max-failure
    ipcp-max-terminate ipcp-restart ipparam ipv6 ipv6cp-max-configure ipv6cp-max-failure
    ipv6cp-max-terminate ipv6cp-restart ipx-network ipx-node ipx-router-name ipx-routing
    ipxcp-max-configure ipxcp-max-failure ipxcp-max-terminate ipxcp-restart kdebug key
    lcp-echo-failure lcp-echo-interval lcp-max-configure lcp-max-failure lcp-max-terminate
    lcp-restart linkname logfd logfile maxconnect maxfail maxoctets mo-timeout mrru mru ms-dns ms-wins
    mtu name netmask pap-max-authreq pap-restart pap-timeout pass-filter password plugin privgroup
    pty record remotename remotenumber set socket srp-interval srp-pn-secret stop-bits unit unset
    user vj-max-slots welcome -as -mru +ua
""".split())

FLAG_OPTIONS = frozenset("""
    auth cdtrcts chapms-strip-domain crtscts debug default-asyncmap default-mru defaultroute
    defaultroute6 demand detach dryrun dump enable-session hide-password ipcp-accept-local
    ipcp-accept-remote ipcp-no-address ipcp-no-addresses ipv6cp-accept-local ipv6cp-accept-remote
    ipv6cp-use-ipaddr ipv6cp-use-persistent ipx ipxcp-accept-local ipxcp-accept-network
    ipxcp-accept-remote ktune lcp-echo-adaptive local lock login master_detach modem mp mppe-stateful
    mpshortseq multilink need-peer-eap noaccomp noauth nobsdcomp noccp nocdtrcts nocrtscts
    nodefaultroute nodefaultroute6 nodeflate nodeflatedraft nodetach noendpoint noip noipdefault
    noipv6 noipx noktune nolock nolog nomagic nomp nomppe nomppe-128 nomppe-40 nomppe-stateful
    nompshortseq nomultilink nopcomp nopersist nopredictor1 noproxyarp noremoteip noreplacedefaultroute
    nosendip notty novj novjccomp papcrypt passive persist predictor1 proxyarp receive-all
    refuse-chap refuse-eap refuse-mschap refuse-mschap-v2 refuse-pap replacedefaultroute
    require-chap require-eap require-mppe require-mppe-128 require-mppe-40 require-mschap
    require-mschap-v2 require-pap show-password silent srp-use-pseudonym sync up_sdnotify updetach
    usehostname usepeerdns usepeerwins xonxoff +ipv6 -ipv6 +chap -chap +pap -pap -ac -am -bsdcomp
    -ccp -crtscts -d -defaultroute -deflate -detach -ip -mn -pc -persist -predictor1 -proxyarp -vj
    -vjccomp -all -p
""".split())

# Options an imported peer file loses, and why (the report quotes the reason).
_SUPERVISION = "pppup supervises the link: it never lets pppd redial, wait for traffic or detach by itself " \
               "(run pppup again after a link ends)"
DROPPED_OPTIONS = {
    "persist": _SUPERVISION, "demand": _SUPERVISION, "holdoff": _SUPERVISION, "maxfail": _SUPERVISION,
    "nopersist": _SUPERVISION, "updetach": _SUPERVISION, "detach": _SUPERVISION, "-detach": _SUPERVISION,
    "nodetach": "pppup's helper always runs pppd with nodetach", "-persist": _SUPERVISION,
    "lock": "pppup's helper locks the line itself (UUCP locks every tool understands)",
    "nolock": "pppup's helper locks the line itself (UUCP locks every tool understands)",
    "init": "pppup dials and initialises the modem before pppd starts; put init commands into the "
            "account's init list",
    "welcome": "pppd would run it as root after the connect script; pppup runs no scripts around the link",
    "disconnect": "pppup's helper hangs up itself (DTR drop, then the policy's reset command)",
    "pty": "this peer runs a program instead of a modem line; pppup dials modem lines only",
    "notty": "this peer does not use a modem line; pppup dials modem lines only",
    "socket": "this peer uses a TCP socket, not a modem line; pppup dials modem lines only",
    "record": "pppd would write a file as root; pppup does not record the session",
    "plugin": "a pppd plugin runs as root inside pppd; pppup starts pppd only with its own plugin",
    "logfile": "pppup's helper reads pppd's log itself (logfd 2); see the system log",
    "logfd": "pppup's helper reads pppd's log itself (logfd 2); see the system log",
    "dump": "pppd would stop after printing its options", "dryrun": "pppd would stop after printing its options",
    "callback": "CBCP call-back (pppd's `callback`) is not supported; pppup does call-back with a login "
                "script (KPPP style, docs/accounts.md)",
}

_SPEED = re.compile(r"[0-9]+")
_ADDRESSES = re.compile(r"[0-9A-Za-z.-]*:[0-9A-Za-z.-]*")
_TTY_NAME = re.compile(r"(tty|cua|rfcomm|ircomm|modem|ttyS|ttyUSB|ttyACM)[A-Za-z0-9._-]*")


class OptionUse(NamedTuple):
    """One option as pppd would take it from the file."""

    kind: str           # "option", "device", "speed", "addresses", "unknown"
    name: str           # the option word (the device path, the speed, ...)
    argument: str | None
    line: int


def split_options(words: list[Word]) -> list[OptionUse]:
    """Group words into options; an option missing its argument is 'unknown'."""
    uses: list[OptionUse] = []
    index = 0
    while index < len(words):
        word = words[index]
        name = word.text
        if name in ARGUMENT_OPTIONS:
            if index + 1 < len(words):
                uses.append(OptionUse("option", name, words[index + 1].text, word.line))
                index += 2
            else:
                uses.append(OptionUse("unknown", name, None, word.line))
                index += 1
            continue
        if name in FLAG_OPTIONS:
            kind = "option"
        elif name.startswith("/") or _TTY_NAME.fullmatch(name):
            kind = "device"
        elif _SPEED.fullmatch(name):
            kind = "speed"
        elif _ADDRESSES.fullmatch(name):
            kind = "addresses"
        else:
            kind = "unknown"
        uses.append(OptionUse(kind, name, None, word.line))
        index += 1
    return uses


def render_option(use: OptionUse) -> str:
    if use.argument is None:
        return quote_word(use.name)
    return f"{quote_word(use.name)} {quote_word(use.argument)}"


# ------------------------------------------------------------------ secrets files

class Secret(NamedTuple):
    client: str
    server: str
    secret: str
    line: int


def read_secrets(text: str) -> list[Secret]:
    """Entries of pap-secrets / chap-secrets: client server secret [addresses...] per line."""
    entries: list[Secret] = []
    current: list[Word] = []
    for word in read_words(text) + [Word("", 0, True)]:
        if word.first and current:
            if len(current) >= 3:
                entries.append(Secret(current[0].text, current[1].text, current[2].text, current[0].line))
            current = []
        current.append(word)
    return entries


def find_secret(entries: list[Secret], client: str, server: str | None) -> Secret | None:
    """The entry pppd would use for `client` talking to `server` (exact server first, then *)."""
    for wanted in ([server] if server else []) + ["*"]:
        for entry in entries:
            if entry.client == client and entry.server == wanted:
                return entry
    return None
