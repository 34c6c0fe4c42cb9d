"""pppup: the unprivileged client (accounts, chat and login scripts, callback, CLI)."""
