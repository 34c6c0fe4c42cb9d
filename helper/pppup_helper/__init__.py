"""pppup's root helper: started only through the setuid shim in csrc/.

It does what needs root and nothing else: decide from the policy, lock the
line, open it and hand the fd over, drop DTR, start and stop pppd, clean up.
"""
