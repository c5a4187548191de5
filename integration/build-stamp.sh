# Sourced by build-release.sh and build-static.sh: sets `commit`, the version's commit stamped
# into every binary (`<plugin> --version`; "-dirty" when Sources or Package.swift differ from
# it), and on a clean tree exports SOURCE_DATE_EPOCH as the commit's time, so the build
# identity's date is the commit's and two builds of one commit are the same bytes.
commit=unknown
if git rev-parse --git-dir >/dev/null 2>&1; then
  commit=$(git rev-parse --short=12 HEAD)
  if git diff --quiet HEAD -- Sources Package.swift 2>/dev/null; then
    export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
  else
    commit="$commit-dirty"
  fi
fi
