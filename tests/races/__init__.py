"""Many users racing for few lines through the installed setuid shim (host; `make stress` runs it in full)."""
