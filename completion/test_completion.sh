#!/bin/bash
# Unit test of clusterfsctl's bash completion (completion/clusterfsctl):
# sources it, checks that it is registered, and calls the completion
# function as bash would (COMP_WORDS, COMP_CWORD) for commands, options,
# lease names (a directory standing for a mount) and node ids (a stand-in
# for clusterfsctl that prints what `clusterfsctl --json members` prints;
# scripts/test-package.sh checks the same against a real node).
# Usage: test_completion.sh PATH/TO/completion/clusterfsctl
set -u
script=${1:?usage: test_completion.sh COMPLETION_FILE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0 checks=0

# shellcheck source=clusterfsctl
source "$script"

# expect "WORDS ON THE LINE" "EXPECTED REPLIES": the last word is the one
# being completed (write '' for an empty word).
expect()
{
	local line=$1 want=$2 got
	read -r -a COMP_WORDS <<<"$line"
	[[ $line == *" ''" ]] && COMP_WORDS[${#COMP_WORDS[@]} - 1]=""
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_clusterfsctl
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
	got=${got% }
	checks=$((checks + 1))
	if [[ $got != "$want" ]]; then
		echo "FAIL: '$line' completed to '$got', expected '$want'"
		failures=$((failures + 1))
	fi
}

reg=$(complete -p clusterfsctl 2>&1)
checks=$((checks + 1))
if [[ $reg != "complete -F _clusterfsctl clusterfsctl" ]]; then
	echo "FAIL: complete -p clusterfsctl says '$reg'"
	failures=$((failures + 1))
fi

expect "clusterfsctl ''" "backup join-token lease members remove restore status sync wait"
expect "clusterfsctl st" "status"
expect "clusterfsctl --" "--help --json --mount --version"
expect "clusterfsctl --json s" "status sync"
expect "clusterfsctl status --c" "--cluster"
expect "clusterfsctl wait --t" "--timeout"
expect "clusterfsctl wait --timeout ''" ""
expect "clusterfsctl lease ''" "acquire release"
expect "clusterfsctl lease acquire net --h" "--holder"
expect "clusterfsctl restore f --d" "--data"

# Lease names from MOUNT/leases/, with --mount before or after the command.
mkdir -p "$tmp/mnt/leases"
touch "$tmp/mnt/leases/net-a" "$tmp/mnt/leases/net-b" "$tmp/mnt/leases/deploy"
expect "clusterfsctl --mount $tmp/mnt lease release n" "net-a net-b"
expect "clusterfsctl lease release --mount $tmp/mnt ''" "deploy net-a net-b"
expect "clusterfsctl --mount $tmp/mnt lease release net-a --holder h ''" ""
expect "clusterfsctl --mount $tmp/nothing lease release ''" ""

# Directories after --mount.
mkdir -p "$tmp/dirs/alpha" "$tmp/dirs/beta"
expect "clusterfsctl --mount $tmp/dirs/a" "$tmp/dirs/alpha"

# Node ids, from the program on the line (COMP_WORDS[0]) given --mount.
cat >"$tmp/ctl" <<EOF
#!/bin/sh
[ "\$1 \$2 \$3 \$4" = "--mount $tmp/mnt --json members" ] || exit 3
echo '[{"id": 1, "address": "127.0.0.1:7440", "role": "voter"}, {"id": 12, "address": "127.0.0.1:7441", "role": "standby"}]'
EOF
chmod +x "$tmp/ctl"
expect "$tmp/ctl --mount $tmp/mnt remove ''" "1 12"
expect "$tmp/ctl --mount $tmp/mnt remove 1" "1 12"
expect "$tmp/ctl --mount $tmp/mnt remove 12 ''" ""
expect "$tmp/ctl --mount $tmp/elsewhere remove ''" ""

echo "$((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
