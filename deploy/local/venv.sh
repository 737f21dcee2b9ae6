#!/usr/bin/env bash
# Create or update the Python virtualenv used by the local tooling (chdb_server.py, tests).
#
#   deploy/local/venv.sh [EXTRA_REQUIREMENTS.txt ...]
#       then run "${SPANLENS_VENV:-<repo>/.venv}/bin/python ..."
#   deploy/local/venv.sh --print-python [EXTRA ...]
#       same, then prints the path of the venv's python (the only output on success)
#   source deploy/local/venv.sh [EXTRA ...]
#       same, and exports SPANLENS_VENV into the calling shell
#
# The venv lives at ${SPANLENS_VENV:-<repo>/.venv}. deploy/local/requirements.txt is always
# installed; extra requirement files (e.g. tests/requirements.txt) are added on top. pip runs only
# when one of the given files changed since it was last installed: the sha256 of every installed
# file is kept in $SPANLENS_VENV/.spanlens-stamps/. Prints nothing but errors on success; when
# sourced it never exits the calling shell and does not touch its shell options.

_spanlens_venv() {
    local here repo venv print_python=0 f abs key sum changed=0 out
    local -a reqs=() pipargs=()

    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)" || return 1
    repo="$(cd "$here/../.." && pwd)" || return 1
    venv="${SPANLENS_VENV:-$repo/.venv}"

    if [ "${1:-}" = "--print-python" ]; then
        print_python=1
        shift
    fi
    reqs=("$here/requirements.txt")
    for f in "$@"; do
        if [ ! -f "$f" ]; then
            echo "venv.sh: requirements file not found: $f" >&2
            return 1
        fi
        abs="$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
        reqs+=("$abs")
    done

    # (Re)create the venv when missing or broken (e.g. the system python moved).
    if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
            echo "venv.sh: $venv exists and is not a virtualenv; set SPANLENS_VENV elsewhere" >&2
            return 1
        fi
        if [ -e "$venv" ]; then
            rm -rf "$venv" || return 1
        fi
        if ! out="$(python3 -m venv "$venv" 2>&1)"; then
            echo "venv.sh: python3 -m venv $venv failed:" >&2
            echo "$out" >&2
            return 1
        fi
    fi

    mkdir -p "$venv/.spanlens-stamps" || return 1
    for f in "${reqs[@]}"; do
        key="$(printf '%s' "$f" | sha256sum | cut -c1-16)"
        sum="$(sha256sum <"$f" | cut -d' ' -f1)"
        if [ "$(cat "$venv/.spanlens-stamps/$key" 2>/dev/null)" != "$sum" ]; then
            changed=1
        fi
        pipargs+=(-r "$f")
    done

    if [ "$changed" = 1 ]; then
        # One pip run over all the files, so that they are resolved together.
        if ! out="$("$venv/bin/python" -m pip install --disable-pip-version-check -q "${pipargs[@]}" 2>&1)"; then
            echo "venv.sh: pip install into $venv failed:" >&2
            echo "$out" >&2
            return 1
        fi
        for f in "${reqs[@]}"; do
            key="$(printf '%s' "$f" | sha256sum | cut -c1-16)"
            sha256sum <"$f" | cut -d' ' -f1 >"$venv/.spanlens-stamps/$key" || return 1
        done
    fi

    SPANLENS_VENV="$venv"
    export SPANLENS_VENV
    if [ "$print_python" = 1 ]; then
        echo "$venv/bin/python"
    fi
    return 0
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced. `source venv.sh` without arguments leaves the caller's positional parameters in
    # "$@"; bash then records the sourced file as the frame's only argument, so ignore "$@".
    if [ "${BASH_ARGV[0]:-}" = "${BASH_SOURCE[0]}" ] && [ "${BASH_ARGC[0]:-}" = 1 ]; then
        _spanlens_venv
    else
        _spanlens_venv "$@"
    fi
    # $? is expanded before eval runs: the function is removed and its status returned, without
    # leaving any variable behind in the calling shell.
    eval "unset -f _spanlens_venv; return $?"
else
    _spanlens_venv "$@"
    exit $?
fi
