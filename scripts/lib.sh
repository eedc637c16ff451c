# Shared helpers for scripts/demo and scripts/test. Source it; do not run it.
set -euo pipefail

PLINTH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PLINTH_BUILD="${PLINTH_BUILD:-$PLINTH_ROOT/build}"

# Debian 12 packages plinth builds and tests with: the one list in
# deploy/packages/ (build.txt, test.txt), which the Dockerfile reads too.
read_packages() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$@" | tr -s ' \t' '\n' | sed '/^$/d'; }
mapfile -t PLINTH_PACKAGES < <(read_packages "$PLINTH_ROOT/deploy/packages/build.txt" "$PLINTH_ROOT/deploy/packages/test.txt")

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Installs whatever of PLINTH_PACKAGES is missing; does nothing when all are there.
ensure_packages() {
  local missing=()
  for p in "${PLINTH_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "Debian packages: all ${#PLINTH_PACKAGES[@]} present"
    return
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "Installing missing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Configures (once) and builds with ninja; incremental after the first run.
build_plinth() {
  if [ ! -f "$PLINTH_BUILD/build.ninja" ]; then
    say "Configuring CMake in $PLINTH_BUILD"
    cmake -S "$PLINTH_ROOT" -B "$PLINTH_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  say "Building (ninja -C $PLINTH_BUILD)"
  ninja -C "$PLINTH_BUILD" "$@"
}

# The browser test's npm packages (tests/browser/package-lock.json, exact
# versions; playwright-core drives Debian's Chromium and downloads no
# browser). Installed again only when the lock file changed.
ensure_browser_test_packages() {
  local dir="$PLINTH_ROOT/tests/browser"
  local stamp="$dir/node_modules/.plinth-lock"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then
    return
  fi
  say "Installing the browser test's npm packages (npm ci in tests/browser)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$dir/package-lock.json" "$stamp"
}

# Debian's kubectl (package kubernetes-client), which the Cloud Ops tests
# check the simulated API server against. When the package is installed its
# /usr/bin/kubectl is used; otherwise (here another package, Google's
# `kubectl`, owns /usr/bin/kubectl, so installing would clash) the Debian
# package is fetched from the apt archive and unpacked under the build dir.
# Exports PLINTH_DEBIAN_KUBECTL; on failure leaves it empty and says why.
ensure_debian_kubectl() {
  export PLINTH_DEBIAN_KUBECTL=""
  if dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null | grep -q "install ok installed"; then
    PLINTH_DEBIAN_KUBECTL=/usr/bin/kubectl
    return
  fi
  local dir="$PLINTH_BUILD/tools/kubernetes-client"
  if [ ! -x "$dir/usr/bin/kubectl" ]; then
    say "Unpacking Debian's kubernetes-client (kubectl) under $dir"
    local tmp
    tmp="$(mktemp -d)"
    if (cd "$tmp" && apt-get download -qq kubernetes-client >/dev/null 2>&1) &&
       mkdir -p "$dir" && dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$dir"; then
      :
    else
      say "Cannot fetch Debian's kubernetes-client; the kubectl checks of the simulated cluster will fail"
    fi
    rm -rf "$tmp"
  fi
  [ -x "$dir/usr/bin/kubectl" ] && PLINTH_DEBIAN_KUBECTL="$dir/usr/bin/kubectl"
  return 0
}
