#!/bin/bash
# pppup install / uninstall (root).  Run by `make install` / `make uninstall`.
#
#   helper/install.sh install   SHIM PLUGIN PYTHON_BUILD SUPERVISOR
#   helper/install.sh uninstall
#
# Idempotent: a second install replaces what the first one put there.  Every
# path it writes is recorded in $LIBDIR/installed-files, and uninstall
# removes exactly those (never /etc/pppup/policy.toml, which the admin
# writes; the group only if install created it and it has no members).
# The paths are pppup_protocol/paths.py's (tests/attacks checks them).
set -euo pipefail

LIBDIR=/usr/local/lib/pppup
VENV=$LIBDIR/venv
SYS_PYTHON=/usr/bin/python3.11
GROUP=pppup
CONFIG_DIR=/etc/pppup
MANIFEST=$LIBDIR/installed-files
BINDIR=/usr/local/bin
SBINDIR=/usr/local/sbin
MANDIR=/usr/local/share/man
# Where bash-completion, zsh (Debian's fpath) and fish look for completions.
BASH_COMPLETION_DIR=/usr/local/share/bash-completion/completions
ZSH_COMPLETION_DIR=/usr/local/share/zsh/site-functions
FISH_COMPLETION_DIR=/usr/local/share/fish/vendor_completions.d
USER_COMMANDS="pppup pppdown pppup-chat"
ADMIN_COMMANDS="pppup-policy"

say() { echo "install: $*"; }

# pip's notes about this machine's index configuration are not our business.
quiet_pip() { grep -v '^WARNING: Location' || true; }

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "$0: run as root (make install / make uninstall)" >&2
		exit 1
	fi
}

record() { echo "$1" >>"$MANIFEST.new"; }

install_group() {
	if ! getent group "$GROUP" >/dev/null; then
		groupadd --system "$GROUP"
		say "created system group $GROUP"
		record "group:$GROUP"
	elif [ -f "$MANIFEST" ] && grep -qx "group:$GROUP" "$MANIFEST"; then
		record "group:$GROUP"   # still ours from an earlier install
	fi
}

install_venv() {
	local wheel_dir=$1
	# A fresh venv when missing or not made from the system interpreter.
	if [ ! -x "$VENV/bin/python" ] || ! grep -qx "home = /usr/bin" "$VENV/pyvenv.cfg" 2>/dev/null; then
		rm -rf "$VENV"
		"$SYS_PYTHON" -m venv "$VENV"
		say "created $VENV from $SYS_PYTHON"
	fi
	# Dependencies as pinned in pyproject.toml, then our wheel over the top.
	"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-warn-script-location \
		"$wheel_dir"/pppup-*.whl 2>&1 | quiet_pip
	"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall \
		"$wheel_dir"/pppup-*.whl 2>&1 | quiet_pip
	# Byte-compile everything now: the helper never writes bytecode as root.
	"$VENV/bin/python" -m compileall -q -f "$VENV/lib/python3.11/site-packages" >/dev/null
	chown -R root:root "$VENV"
	chmod -R go-w "$VENV"
	record "dir:$VENV"
}

install_file() {   # MODE OWNER:GROUP SRC DEST
	install -o "${2%%:*}" -g "${2##*:}" -m "$1" "$3" "$4.new"
	mv -f "$4.new" "$4"
	record "file:$4"
}

install_commands() {
	local name dir
	for name in $USER_COMMANDS $ADMIN_COMMANDS; do
		case " $ADMIN_COMMANDS " in *" $name "*) dir=$SBINDIR ;; *) dir=$BINDIR ;; esac
		if [ "$name" = pppup-chat ]; then
			# pppd runs it for every call: the -I -S launcher, not pip's
			# wrapper (no site.py, no re; docs/chat.md "Start-up").
			install_file 0755 root:root client/pppup-chat.py "$dir/$name"
		elif [ -x "$VENV/bin/$name" ]; then
			ln -sfn "$VENV/bin/$name" "$dir/$name"
			record "link:$dir/$name"
		elif [ -L "$dir/$name" ] && [ "$(readlink "$dir/$name")" = "$VENV/bin/$name" ]; then
			rm -f "$dir/$name"   # a command that no longer exists
		fi
	done
}

install_config() {
	install -d -o root -g root -m 0755 "$CONFIG_DIR" "$CONFIG_DIR/accounts"
	if [ -f policy/policy.example.toml ]; then
		install_file 0644 root:root policy/policy.example.toml "$CONFIG_DIR/policy.toml.example"
	fi
	if [ ! -e "$CONFIG_DIR/policy.toml" ]; then
		say "no $CONFIG_DIR/policy.toml: pppup refuses everyone until the admin writes one"
		say "  (cp $CONFIG_DIR/policy.toml.example $CONFIG_DIR/policy.toml, edit, pppup-policy check)"
	fi
}

install_man() {
	local page section
	[ -d docs/man ] || return 0
	for page in docs/man/*.[1-8]; do
		[ -f "$page" ] || continue
		section=${page##*.}
		install -d -m 0755 "$MANDIR/man$section"
		install_file 0644 root:root "$page" "$MANDIR/man$section/$(basename "$page")"
	done
}

install_completion() {
	# contrib/completion: bash-completion loads the file named like the command,
	# so the one bash script goes in under each command's name.
	local name source=contrib/completion
	[ -d "$source" ] || return 0
	install -d -m 0755 "$BASH_COMPLETION_DIR" "$ZSH_COMPLETION_DIR" "$FISH_COMPLETION_DIR"
	for name in $USER_COMMANDS $ADMIN_COMMANDS; do
		install_file 0644 root:root "$source/bash/pppup" "$BASH_COMPLETION_DIR/$name"
		install_file 0644 root:root "$source/fish/$name.fish" "$FISH_COMPLETION_DIR/$name.fish"
	done
	install_file 0644 root:root "$source/zsh/_pppup" "$ZSH_COMPLETION_DIR/_pppup"
}

do_install() {
	local shim=$1 plugin=$2 build_python=$3 supervisor=$4
	need_root
	[ -x "$shim" ] || { echo "$0: $shim is not built (make build)" >&2; exit 1; }
	[ -x "$supervisor" ] || { echo "$0: $supervisor is not built (make build)" >&2; exit 1; }
	install -d -o root -g root -m 0755 "$LIBDIR"
	: >"$MANIFEST.new"
	install_group
	WHEEL_DIR=$(mktemp -d)
	trap 'rm -rf "$WHEEL_DIR"' EXIT
	"$build_python" -m pip wheel -q --disable-pip-version-check --no-deps -w "$WHEEL_DIR" . 2>&1 | quiet_pip
	install_venv "$WHEEL_DIR"
	install_file 0644 root:root helper/pppup-helper.py "$LIBDIR/pppup-helper.py"
	# What a helper becomes once its link is up (exec, same pid): not setuid,
	# it only ever runs as the root helper that execs it.
	install_file 0755 root:root "$supervisor" "$LIBDIR/pppup-supervise"
	# The setuid bit last, after the files it execs are in place.
	install_file 4750 root:"$GROUP" "$shim" "$LIBDIR/pppup-shim"
	if [ -f "$plugin" ]; then
		install_file 0644 root:root "$plugin" "$LIBDIR/pppup-secret.so"
	else
		say "no $plugin built yet: pppd's secret plugin not installed"
	fi
	install_commands
	install_config
	install_man
	install_completion
	mv -f "$MANIFEST.new" "$MANIFEST"
	say "done: $LIBDIR (shim 4750 root:$GROUP); add users to group $GROUP to let them in"
}

do_uninstall() {
	need_root
	if [ ! -f "$MANIFEST" ]; then
		echo "uninstall: nothing recorded in $MANIFEST; nothing to do"
		return 0
	fi
	local entry kind path
	# Files and links first, then the venv, then the group.
	while read -r entry; do
		kind=${entry%%:*}
		path=${entry#*:}
		case $kind in
		file | link) rm -f "$path" ;;
		esac
	done <"$MANIFEST"
	while read -r entry; do
		kind=${entry%%:*}
		path=${entry#*:}
		case $kind in
		dir) case $path in "$LIBDIR"/*) rm -rf "$path" ;; esac ;;
		group)
			if [ -z "$(getent group "$path" | cut -d: -f4)" ]; then
				groupdel "$path"
			else
				echo "uninstall: group $path still has members; left in place"
			fi
			;;
		esac
	done <"$MANIFEST"
	rm -f "$MANIFEST"
	rmdir "$LIBDIR" 2>/dev/null || echo "uninstall: $LIBDIR not empty; left in place"
	rmdir "$CONFIG_DIR/accounts" "$CONFIG_DIR" 2>/dev/null || true
	echo "uninstall: done (an admin-written $CONFIG_DIR/policy.toml is kept)"
}

# A test run on this machine (tests/machine_lock.py: the attack and flow
# suites, the VM suite, whose guest runs this install) must not see it
# replaced under its feet: wait for it.  A run that holds the lock itself
# says so in the environment and installs at once.
MACHINE_LOCK=/run/lock/pppup-attack-suite.lock
if [ -z "${PPPUP_MACHINE_LOCK_HELD:-}" ] && [ "$(id -u)" = 0 ] && command -v flock >/dev/null; then
	export PPPUP_MACHINE_LOCK_HELD=1
	flock -n "$MACHINE_LOCK" true || echo "install: waiting for the pppup test run on this machine to end ($MACHINE_LOCK)"
	exec flock "$MACHINE_LOCK" "$BASH" "$0" "$@"
fi

case ${1:-} in
install) shift; do_install "$@" ;;
uninstall) do_uninstall ;;
*) echo "usage: $0 install SHIM PLUGIN BUILD_PYTHON SUPERVISOR | uninstall" >&2; exit 2 ;;
esac
