# scripts/lib/common.sh - shared by scripts/demo and scripts/test: install the
# Debian packages the project needs when they are missing, and build.
# Sourced, not run.

VJ_PACKAGES="gcc meson ninja-build pkg-config protobuf-c-compiler libprotobuf-c-dev libsodium-dev
libzmq3-dev libconfig-dev libsqlite3-dev libcmocka-dev libjansson-dev sqlite3 python3"

vj_install_deps() {
    local missing=()
    local p
    for p in $VJ_PACKAGES; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    echo "installing: ${missing[*]}" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: packages are missing and this is not root; install them with:" >&2
        echo "  sudo apt-get install ${missing[*]}" >&2
        return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# vj_build DIR [meson setup options...]: configure DIR once, then build it.
vj_build() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >&2
    fi
    meson compile -C "$dir" >&2
}
