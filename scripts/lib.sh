# Shared helpers for scripts/demo and scripts/test. Source it; do not run it.
set -euo pipefail

PLINTH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PLINTH_BUILD="${PLINTH_BUILD:-$PLINTH_ROOT/build}"

# Debian 12 packages plinth builds, tests and runs with.
PLINTH_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev nlohmann-json3-dev libyaml-dev libgit2-dev
  libsqlite3-dev libgtest-dev libgmock-dev libcli11-dev libbenchmark-dev libsodium-dev libcpp-httplib-dev libre2-dev
  python3 python3-grpcio python3-jinja2 python3-yaml zlib1g-dev
  git  # tests make fixture repositories for Git module sources with it
  openssh-server  # tests serve an ssh:// repository with sshd on a loopback port
)

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
