"""The two seed documents' scripts, verbatim (../shared/seeds/), for the flow tests and the demo.

SEED1_LOGIN_SCRIPT: KPPP's callback chapter (seed 000), its login script as
printed, with the comments that the web page wrapped onto the next line.
SEED2_CHAT_SCRIPT: "Testing and Automating PPP" (seed 003), the chat script
for an ISP that needs no log-in (PAP), with the comment lines that follow it.
Kept here, not read from ../shared at run time, so a clone has them.
Trailing blanks are part of the text (the seed has one after "choose one").
"""

SEED1_LOGIN_SCRIPT = r'''    Expect       ogin:           # remember, we do ordinary terminal login
    ID           ""              # kppp sends the id you configured in
    the main dialog
    Expect       for userxyz:    # a list of available numbers is
    shown, the user should choose one 
    Send         userxyz-home    # the user wants to be called back
    on their home number
    Expect       ogin:           # The callback process is now
    running, a new connection, and so a new login.
    Expect       assword:        # Now send your password
    Expect       >            # Wait for the command prompt (the
    prompt may vary)
    Send         start_ppp       # this command starts the pppd
'''

SEED2_CHAT_SCRIPT = r'''              ABORT "NO CARRIER"
              ABORT "NO DIALTONE"
              ABORT "ERROR"
              ABORT "NO ANSWER"
              ABORT "BUSY"
              ""    AT
              OK-\d\d+++\d\d\c-OK   ATH0
              OK    'AT&F\\Q3\\V1&D3M1#CC1'
              OK     ATD8765432
              CONNECT '\d\c'
# The \d means wait a second, the \c means do not 
# send a carriage return (sending a carriage return 
# at this point almost always confuses the ISP)
'''

# The numbers and names the seeds use.
SEED1_USER = "userxyz"
SEED1_ALIAS = "userxyz-home"
SEED1_MENU_PROMPT = "for userxyz:"
SEED2_NUMBER = "8765432"
