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
