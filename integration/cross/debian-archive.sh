# Sourced by the cross-build scripts: the Debian archive the host already uses, and apt
# options for a private trixie configuration (the host's sources, lists and dpkg status are
# never touched).
#   debian_uri                     the archive's URI (the host's first non-security deb source)
#   trixie_apt WORKDIR ARCH...     sets the array apt_options for `apt-get "${apt_options[@]}" ...`
debian_uri=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | awk '/^URIs:/ && !/security/ { print $2; exit } /^deb / && !/security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' || true)
[ -n "$debian_uri" ] || { echo "debian-archive: no Debian archive found in the host's apt sources" >&2; exit 1; }

trixie_apt() {
  local work=$1
  shift
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $debian_uri trixie main" > "$work/sources.list"
  apt_options=(-o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$work/lists"
    -o Dir::Cache="$work/cache" -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root
    -o APT::Architecture=amd64)
  local arch
  for arch in "$@"; do apt_options+=(-o APT::Architectures::="$arch"); done
}

# unpack_closure WORKDIR DEST PACKAGE...: downloads the packages and everything they depend on
# (as apt resolves it against an empty system) and unpacks each with dpkg -x into DEST.
# Maintainer scripts are not run: DEST is a tree of files, enough for a sysroot or a VM's root.
unpack_closure() {
  local work=$1 dest=$2
  shift 2
  local names
  names=$(apt-get "${apt_options[@]}" -s install --no-install-recommends "$@" \
    | awk '$1 == "Inst" { print $2 "=" substr($3, 2) }')
  [ -n "$names" ] || { echo "debian-archive: apt resolved nothing for $*" >&2; return 1; }
  mkdir -p "$work/debs" "$dest"
  # shellcheck disable=SC2086
  (cd "$work/debs" && apt-get "${apt_options[@]}" download -qq $names >&2)
  local deb
  for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$dest"; done
}

# fetch_pinned WORKDIR DEST ARCH PACKAGE=VERSION=SHA256...: downloads each package of exactly
# that version for ARCH (needs trixie_apt's apt_options), refuses one whose SHA-256 is not the
# pinned one, and unpacks it with dpkg -x into DEST.
fetch_pinned() {
  local work=$1 dest=$2 arch=$3
  shift 3
  mkdir -p "$work/pinned" "$dest"
  local entry name version expected deb actual
  for entry in "$@"; do
    IFS== read -r name version expected <<< "$entry"
    (cd "$work/pinned" && apt-get "${apt_options[@]}" download -qq "$name:$arch=$version" >&2)
    deb=$(ls "$work/pinned/${name}_"*"_$arch.deb" 2>/dev/null | head -1)
    [ -n "$deb" ] || { echo "debian-archive: $name $version ($arch) was not downloaded" >&2; return 1; }
    actual=$(sha256sum "$deb" | cut -d' ' -f1)
    if [ "$actual" != "$expected" ]; then
      echo "debian-archive: $(basename "$deb") has SHA-256 $actual, expected $expected" >&2
      return 1
    fi
    dpkg -x "$deb" "$dest"
  done
}
