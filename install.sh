#!/usr/bin/env bash
# install.sh — install teleclaude-integrator into a git repository (README "Install").
#
#   ./install.sh [REPO] [--bin-dir DIR] [--shim-dir DIR] [--follow-hooks-path]
#                [--uninstall] [--purge] [--demo] [-h|--help]
#
# Environment:
#   CARGO_TARGET_DIR          where cargo builds (release binaries are taken from
#                             $CARGO_TARGET_DIR/release; default <this dir>/target)
#   TELECLAUDE_INSTALL_FROM   a directory that already holds the four built binaries
#                             (integrator, pre-push, git, gh): install those, build nothing
#   CARGO                     the cargo to build with (default: cargo on PATH)
#
# Exit codes: 0 done, 1 failed, 2 usage (bad flags, core.hooksPath set, bad REPO).
set -euo pipefail

readonly PROG=install.sh
readonly BEGIN_MARK='# >>> teleclaude-integrator pre-push >>>'
readonly END_MARK='# <<< teleclaude-integrator pre-push <<<'
readonly BIN_TOOLS=(integrator pre-push)
readonly SHIM_TOOLS=(git gh)

usage() {
	cat <<'EOF'
usage: ./install.sh [REPO] [--bin-dir DIR] [--shim-dir DIR] [--follow-hooks-path]
                    [--uninstall] [--purge] [--demo] [-h|--help]

Install the integrator, the pre-push guard and the git/gh shims into REPO
(default: the repository of the current directory).

  --bin-dir DIR         where integrator and pre-push go (default ~/.teleclaude/bin)
  --shim-dir DIR        where the git and gh shims go (default ~/.teleclaude/shims)
  --follow-hooks-path   install the hook into core.hooksPath when it is set
  --uninstall           remove the hook block and the installed binaries, restore
                        a preserved foreign hook; state and config.toml stay
  --purge               with --uninstall: also delete the state dir and config.toml
  --demo                build, then run `integrator demo` in a throwaway sandbox
  -h, --help            show this help

Environment: CARGO_TARGET_DIR (where cargo builds), TELECLAUDE_INSTALL_FROM (a dir
holding already-built integrator, pre-push, git and gh: nothing is built).
EOF
}

die() { # die CODE MESSAGE [HINT]
	printf '%s: error: %s\n' "$PROG" "$2" >&2
	if [[ -n ${3:-} ]]; then printf 'hint: %s\n' "$3" >&2; fi
	exit "$1"
}

note() { printf '%s\n' "$*"; }

# Single-quote a string for sh: 'it'\''s'.
sh_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

abs_dir() { # the absolute form of a directory path that may not exist yet
	case $1 in
	/*) printf '%s' "$1" ;;
	*) printf '%s/%s' "$PWD" "$1" ;;
	esac
}

# --- arguments ---------------------------------------------------------------

REPO_ARG=''
BIN_DIR="${HOME:-}/.teleclaude/bin"
SHIM_DIR="${HOME:-}/.teleclaude/shims"
BIN_DIR_SET=0
SHIM_DIR_SET=0
FOLLOW_HOOKS_PATH=0
UNINSTALL=0
PURGE=0
DEMO=0

need_value() { # need_value FLAG NEXT...
	if [[ $# -lt 2 || -z $2 || $2 == -* ]]; then
		die 2 "$1 needs a directory argument" "$PROG $1 DIR"
	fi
}

parse_args() {
	while [[ $# -gt 0 ]]; do
		case $1 in
		-h | --help)
			usage
			exit 0
			;;
		--bin-dir)
			need_value "$@"
			BIN_DIR=$2 BIN_DIR_SET=1
			shift
			;;
		--bin-dir=*) BIN_DIR=${1#*=} BIN_DIR_SET=1 ;;
		--shim-dir)
			need_value "$@"
			SHIM_DIR=$2 SHIM_DIR_SET=1
			shift
			;;
		--shim-dir=*) SHIM_DIR=${1#*=} SHIM_DIR_SET=1 ;;
		--follow-hooks-path) FOLLOW_HOOKS_PATH=1 ;;
		--uninstall) UNINSTALL=1 ;;
		--purge) PURGE=1 ;;
		--demo) DEMO=1 ;;
		--)
			shift
			[[ $# -le 1 ]] || die 2 "unexpected argument '$2'" "see $PROG --help"
			[[ $# -eq 0 ]] || REPO_ARG=$1
			break
			;;
		-*) die 2 "unknown option '$1'" "see $PROG --help" ;;
		*)
			[[ -z $REPO_ARG ]] || die 2 "unexpected argument '$1' (REPO is already '$REPO_ARG')" "see $PROG --help"
			REPO_ARG=$1
			;;
		esac
		shift
	done
	if [[ $PURGE -eq 1 && $UNINSTALL -eq 0 ]]; then
		die 2 "--purge only goes with --uninstall" "$PROG --uninstall --purge"
	fi
	if [[ $DEMO -eq 1 && $UNINSTALL -eq 1 ]]; then
		die 2 "--demo and --uninstall cannot be combined"
	fi
	if [[ -z ${HOME:-} && ($BIN_DIR_SET -eq 0 || $SHIM_DIR_SET -eq 0) ]]; then
		die 2 "HOME is not set, so there is no default bin/shim dir" "pass --bin-dir DIR and --shim-dir DIR"
	fi
	for d in "$BIN_DIR" "$SHIM_DIR"; do
		case $d in *$'\n'* | *:*) die 2 "path '$d' contains a newline or ':' (it must fit in PATH)" ;; esac
	done
	case $REPO_ARG in *$'\n'*) die 2 "REPO path contains a newline" ;; esac
	BIN_DIR=$(abs_dir "$BIN_DIR")
	SHIM_DIR=$(abs_dir "$SHIM_DIR")
}

refuse_windows() {
	local os
	os=$(uname -s 2>/dev/null || printf unknown)
	case $os in
	MINGW* | MSYS* | CYGWIN* | Windows_NT)
		die 1 "Windows ($os) is not supported: teleclaude-integrator runs on Linux and macOS only" \
			"use WSL2 with the repository on its Linux filesystem"
		;;
	esac
}

# --- binaries ----------------------------------------------------------------

PROJECT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
FROM_DIR=''

# Newer sources than a built binary mean the release build is stale.
sources_newer_than() {
	local found
	found=$(find "$PROJECT_DIR/src" "$PROJECT_DIR/hooks" "$PROJECT_DIR/wrappers" \
		"$PROJECT_DIR/Cargo.toml" "$PROJECT_DIR/Cargo.lock" -newer "$1" -print -quit 2>/dev/null || true)
	[[ -n $found ]]
}

# Set FROM_DIR to a directory holding the four binaries. With cargo, build (cargo itself
# decides what is stale, so an up-to-date build costs nothing); without cargo, use
# release binaries that are newer than every source.
locate_binaries() {
	local tool
	if [[ -n ${TELECLAUDE_INSTALL_FROM:-} ]]; then
		FROM_DIR=$(abs_dir "$TELECLAUDE_INSTALL_FROM")
		for tool in "${BIN_TOOLS[@]}" "${SHIM_TOOLS[@]}"; do
			[[ -f $FROM_DIR/$tool && -x $FROM_DIR/$tool ]] ||
				die 1 "TELECLAUDE_INSTALL_FROM=$FROM_DIR has no executable '$tool'" \
					"unset TELECLAUDE_INSTALL_FROM to build with cargo"
		done
		return
	fi
	local target cargo=${CARGO:-cargo}
	target=$(abs_dir "${CARGO_TARGET_DIR:-$PROJECT_DIR/target}")
	FROM_DIR=$target/release
	if command -v "$cargo" >/dev/null 2>&1; then
		note "building release binaries (cargo build --release --locked; cargo shows its progress)..."
		# The shims and the hook run on every git command or push: linked statically and
		# not position-independent they start in a fraction of a dynamic binary's time
		# (docs/performance.md). `cargo rustc` gives those flags to the final binary only.
		(cd "$PROJECT_DIR" && CARGO_TARGET_DIR=$target "$cargo" build --release --locked --bin integrator &&
			for tool in git gh pre-push; do
				CARGO_TARGET_DIR=$target "$cargo" rustc --release --locked --bin "$tool" -- \
					-C target-feature=+crt-static -C relocation-model=static || exit 1
			done) >&2 ||
			die 1 "cargo build --release --locked failed (see above)"
		return
	fi
	for tool in "${BIN_TOOLS[@]}" "${SHIM_TOOLS[@]}"; do
		if [[ ! -x $FROM_DIR/$tool ]] || sources_newer_than "$FROM_DIR/$tool"; then
			die 1 "cargo is needed to build the release binaries ($FROM_DIR/$tool is missing or older than the sources) but '$cargo' was not found" \
				"install Rust (rustup), or set TELECLAUDE_INSTALL_FROM to a dir of built binaries"
		fi
	done
}

CHANGED=0

# Copy SRC to DST (mode 755) only when the bytes differ; replace by rename so a running
# copy of the old binary is never overwritten in place.
install_file() {
	local src=$1 dst=$2
	if [[ -f $dst ]] && cmp -s "$src" "$dst"; then
		[[ -x $dst ]] || { chmod 755 "$dst" && CHANGED=1; }
		return 0
	fi
	mkdir -p "$(dirname "$dst")"
	local tmp
	tmp=$(mktemp "$dst.tmp.XXXXXX")
	cp "$src" "$tmp"
	chmod 755 "$tmp"
	mv -f "$tmp" "$dst"
	note "installed $dst"
	CHANGED=1
}

# --- the repository ----------------------------------------------------------

TOPLEVEL='' COMMON_DIR='' HOOKS_DIR='' MAIN_WT=''

resolve_repo() {
	local start=${REPO_ARG:-.}
	[[ -d $start ]] || die 2 "REPO '$start' is not a directory"
	git -C "$start" rev-parse --git-dir >/dev/null 2>&1 ||
		die 2 "'$start' is not inside a git repository" "$PROG /path/to/repo"
	COMMON_DIR=$(git -C "$start" rev-parse --path-format=absolute --git-common-dir)
	TOPLEVEL=$(git -C "$start" rev-parse --show-toplevel 2>/dev/null || true)
	[[ -n $TOPLEVEL ]] || TOPLEVEL=$COMMON_DIR # bare repository
	# The main working tree (first entry of the worktree list) outlives linked worktrees:
	# cron runs from there.
	MAIN_WT=$(git -C "$start" worktree list --porcelain | sed -n '1s/^worktree //p')
	[[ -n $MAIN_WT && -d $MAIN_WT ]] || MAIN_WT=$TOPLEVEL

	local hooks_path
	hooks_path=$(git -C "$start" config --get core.hooksPath 2>/dev/null || true)
	if [[ -n $hooks_path && $FOLLOW_HOOKS_PATH -eq 0 ]]; then
		die 2 "core.hooksPath is set ('$hooks_path'): git runs hooks from there, not from the repository's hooks dir" \
			"re-run with --follow-hooks-path to install into it, or \`git -C $(sh_quote "$TOPLEVEL") config --unset core.hooksPath\`"
	fi
	HOOKS_DIR=$(cd "$TOPLEVEL" && git rev-parse --path-format=absolute --git-path hooks)
}

# --- the hook ----------------------------------------------------------------

hook_block() {
	local target=$BIN_DIR/pre-push
	cat <<EOF
$BEGIN_MARK
# Managed by teleclaude-integrator install.sh; remove with \`install.sh --uninstall\`.
# shims: $SHIM_DIR
hook=$(sh_quote "$target")
if [ ! -x "\$hook" ]; then
	echo "teleclaude-integrator: error: the pre-push guard \$hook is missing or not executable; push refused" >&2
	echo "hint: re-run install.sh for this repository" >&2
	exit 1
fi
exec "\$hook" "\$@"
$END_MARK
EOF
}

has_block() { [[ -f $1 ]] && grep -qxF "$BEGIN_MARK" "$1"; }

# Print FILE with the marker block replaced by stdin's text (or removed when stdin is empty).
replace_block() {
	local file=$1 block
	block=$(cat)
	# Values go through ENVIRON: awk -v would interpret the backslashes of sh quoting.
	TC_BEGIN=$BEGIN_MARK TC_END=$END_MARK TC_BLOCK=$block awk '
		$0 == ENVIRON["TC_BEGIN"] { skipping = 1; if (ENVIRON["TC_BLOCK"] != "") print ENVIRON["TC_BLOCK"]; next }
		skipping && $0 == ENVIRON["TC_END"] { skipping = 0; next }
		!skipping { print }
	' "$file"
}

write_if_changed() { # write_if_changed FILE MODE CONTENT (a newline is appended)
	local file=$1 mode=$2 tmp
	tmp=$(mktemp "$file.tmp.XXXXXX")
	printf '%s\n' "$3" >"$tmp"
	chmod "$mode" "$tmp"
	if [[ -f $file ]] && cmp -s "$tmp" "$file" && [[ -x $file || $mode != 755 ]]; then
		rm -f "$tmp"
		return 0
	fi
	mv -f "$tmp" "$file"
	note "wrote $file"
	CHANGED=1
}

install_hook() {
	local hook=$HOOKS_DIR/pre-push local=$HOOKS_DIR/pre-push.local
	mkdir -p "$HOOKS_DIR"
	if [[ -e $hook ]] && ! has_block "$hook"; then
		[[ ! -e $local ]] ||
			die 1 "$hook is a foreign hook and $local already exists: refusing to overwrite either" \
				"merge them by hand into $local, remove $hook, and re-run $PROG"
		mv "$hook" "$local"
		note "preserved the existing pre-push hook as $local (the guard runs it)"
		CHANGED=1
	fi
	# Build the whole text first: a failure must never leave a half-written hook.
	local text
	if [[ -e $hook ]]; then
		text=$(hook_block | replace_block "$hook")
	else
		text=$(printf '#!/bin/sh\n%s' "$(hook_block)")
	fi
	write_if_changed "$hook" 755 "$text"
}

write_default_config() {
	local state=$COMMON_DIR/teleclaude
	local cfg=$state/config.toml
	[[ ! -e $cfg ]] || return 0
	mkdir -p "$state"
	cat >"$cfg" <<'EOF'
# teleclaude-integrator local configuration (README "Configuration").
# Written once by install.sh; never overwritten. It is data: `install.sh --uninstall`
# keeps it, `install.sh --uninstall --purge` deletes it.
[integrator]
# off | shadow | cutover. Shadow records what the integrator would do and changes no ref.
mode = "shadow"
EOF
	note "wrote $cfg (mode = \"shadow\")"
	CHANGED=1
}

# The directory of the first git on PATH that is not in the shim dir, for the cron PATH.
real_git_dir() {
	local dir dirs
	IFS=: read -ra dirs <<<"$PATH"
	for dir in "${dirs[@]}"; do
		if [[ -n $dir && $dir != "$SHIM_DIR" && -x $dir/git ]]; then
			printf '%s' "$dir"
			return
		fi
	done
}

cron_path() {
	local p="$SHIM_DIR:$BIN_DIR" extra
	for extra in "$(real_git_dir)" /usr/local/bin /usr/bin /bin; do
		if [[ -n $extra && ":$p:" != *":$extra:"* ]]; then p="$p:$extra"; fi
	done
	printf '%s' "$p"
}

# Beside the shims: the shadow exec-path (git's children find the shim as `git`), the
# hooks dir and this repository's remote URLs as guarded remotes (README "Nested git",
# "Guarded remotes"). `integrator shims` prints one line per change, nothing otherwise;
# it refreshes the links after a git upgrade.
install_shim_support() {
	local out
	out=$("$BIN_DIR/integrator" -C "$TOPLEVEL" shims --shim-dir "$SHIM_DIR") ||
		die 1 "integrator shims failed (see above)" "run \`integrator doctor\` in $TOPLEVEL"
	if [[ -n $out ]]; then
		printf '%s\n' "$out"
		CHANGED=1
	fi
}

# Remove what install_shim_support added for this repository; the shared pieces go with
# the shims themselves.
uninstall_shim_support() {
	local registry=$SHIM_DIR/guarded-remotes
	if [[ -f $registry ]]; then
		local rest
		rest=$(TC_REPO=$COMMON_DIR awk -F'\t' '$2 != ENVIRON["TC_REPO"]' "$registry")
		if [[ -n $rest ]]; then printf '%s\n' "$rest" >"$registry"; else rm -f "$registry"; fi
	fi
	if [[ -e $SHIM_DIR/git-exec-path || -e $SHIM_DIR/hooks/pre-push ]]; then
		rm -rf "$SHIM_DIR/git-exec-path"
		rm -f "$SHIM_DIR/hooks/pre-push"
		rmdir "$SHIM_DIR/hooks" 2>/dev/null || true
		note "removed the shadow exec-path and the hooks dir from $SHIM_DIR"
	fi
}

self_test() {
	local hook=$HOOKS_DIR/pre-push code=0
	# `--self-test` is an argv git never passes: the guard loads the repository and its
	# config, records nothing and does not run a preserved pre-push.local.
	(cd "$TOPLEVEL" && "$hook" --self-test </dev/null) || code=$?
	[[ $code -eq 0 ]] || die 1 "self-test: the installed hook $hook exited $code" \
		"run \`integrator doctor\` in $TOPLEVEL"
	note "self-test: ok"
}

do_install() {
	resolve_repo
	locate_binaries
	local tool
	for tool in "${BIN_TOOLS[@]}"; do install_file "$FROM_DIR/$tool" "$BIN_DIR/$tool"; done
	for tool in "${SHIM_TOOLS[@]}"; do install_file "$FROM_DIR/$tool" "$SHIM_DIR/$tool"; done
	install_hook
	write_default_config
	install_shim_support
	if [[ $CHANGED -eq 0 ]]; then
		note "already installed in $TOPLEVEL (hook: $HOOKS_DIR/pre-push)"
	else
		note "installed in $TOPLEVEL (hook: $HOOKS_DIR/pre-push)"
	fi
	note ""
	note "Put the shims first on PATH (e.g. in ~/.profile):"
	note "  export PATH=\"$SHIM_DIR:$BIN_DIR:\$PATH\""
	note "Run the integrator from cron (crontab -e):"
	note "  */5 * * * * cd $(sh_quote "$MAIN_WT") && PATH=$(cron_path) integrator run --quiet"
	note "With [fleet] enabled (README \"Fleet\"): the line above on the integrator computer; on agent computers, sync only:"
	note "  * * * * * cd $(sh_quote "$MAIN_WT") && PATH=$(cron_path) integrator sync --quiet"
	note ""
	self_test
}

# --- uninstall ---------------------------------------------------------------

# Read a value the hook block recorded (bin dir from its hook= line, shim dir from its
# "# shims:" comment) so --uninstall finds custom dirs without the flags.
recorded_dirs() {
	local hook=$1 line
	has_block "$hook" || return 0
	if [[ $SHIM_DIR_SET -eq 0 ]]; then
		line=$(sed -n 's/^# shims: //p' "$hook" | head -n 1)
		[[ -z $line ]] || SHIM_DIR=$line
	fi
	if [[ $BIN_DIR_SET -eq 0 ]]; then
		line=$(sed -n "s/^hook='\\(.*\\)'\$/\\1/p" "$hook" | head -n 1)
		line=${line//\'\\\'\'/\'}
		[[ -z $line ]] || BIN_DIR=$(dirname "$line")
	fi
}

do_uninstall() {
	resolve_repo
	local hook=$HOOKS_DIR/pre-push local=$HOOKS_DIR/pre-push.local removed=0 tool
	recorded_dirs "$hook"
	if has_block "$hook"; then
		local rest
		rest=$(: | replace_block "$hook")
		if [[ -z $(printf '%s\n' "$rest" | grep -v '^#!' | grep -v '^[[:space:]]*$' || true) ]]; then
			rm -f "$hook"
		else
			write_if_changed "$hook" 755 "$rest"
		fi
		note "removed the teleclaude-integrator block from $hook"
		removed=1
	fi
	if [[ -e $local && ! -e $hook ]]; then
		mv "$local" "$hook"
		note "restored the original pre-push hook from $local"
		removed=1
	elif [[ -e $local ]]; then
		note "kept $local: $hook has other content, merge them by hand"
	fi
	uninstall_shim_support
	local file bins=0
	for file in "${BIN_TOOLS[@]/#/$BIN_DIR/}" "${SHIM_TOOLS[@]/#/$SHIM_DIR/}"; do
		if [[ -e $file ]]; then
			rm -f "$file"
			note "removed $file"
			bins=1 removed=1
		fi
	done
	rmdir "$BIN_DIR" "$SHIM_DIR" 2>/dev/null || true
	if [[ $bins -eq 1 ]]; then
		note "note: any other repository whose hook uses $BIN_DIR/pre-push refuses pushes until re-installed"
	fi
	if [[ $PURGE -eq 1 && -d $COMMON_DIR/teleclaude ]]; then
		rm -rf "$COMMON_DIR/teleclaude"
		note "purged the state dir $COMMON_DIR/teleclaude"
		removed=1
	elif [[ -d $COMMON_DIR/teleclaude ]]; then
		note "kept the state dir $COMMON_DIR/teleclaude (delete it with --uninstall --purge)"
	fi
	if [[ $removed -eq 0 ]]; then note "not installed in $TOPLEVEL: nothing to remove"; fi
}

main() {
	parse_args "$@"
	refuse_windows
	command -v git >/dev/null 2>&1 || die 1 "git is not on PATH" "install git 2.38 or newer"
	if [[ $DEMO -eq 1 ]]; then
		locate_binaries
		exec "$FROM_DIR/integrator" demo
	elif [[ $UNINSTALL -eq 1 ]]; then
		do_uninstall
	else
		do_install
	fi
}

main "$@"
