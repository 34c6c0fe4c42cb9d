"""`pppup import peers|wvdial|kppp`: turn an existing dial-up set-up into pppup files.

Each importer reads one foreign format and fills in a `Draft` (draft.py):
the user's account, a secret that must go into a 0600 file, a chat script to
copy (or reference, unchanged), and for the administrator a peer file and a
policy snippet.  Everything that could not be carried over goes into the
`Report` with the file:line it came from and the reason.  outputs.py then
checks the account against the real account loader and writes the files.

    peers.py    /etc/ppp/peers/NAME (pppd options, `connect "chat ..."`)
    wvdial.py   wvdial.conf / ~/.wvdialrc (wvstreams ini: sections, Inherits)
    kppp.py     kppprc (KConfig ini: [Account<n>], [Modem<n>]); kppp_login.py its
                login scripts and script call-back

Shared pieces: pppd_words.py (pppd's option-file words and option table),
chat_call.py (a `connect` command line that runs chat), chat_fill.py
(chat's -T text and placeholders in a chat script), ini readers
(wvconf.py, kconfig.py), login_text.py (writing login scripts),
modem_strings.py (dial strings, phones, speeds, names), sources.py (reading
the old files), draft.py (what an import produces, rendered), outputs.py
(checking and writing it), report.py.  docs/migrating.md says what maps to
what.
"""
