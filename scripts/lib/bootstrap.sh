# shellcheck shell=bash
# Sourced by the scripts in scripts/: make uv and the machine's server packages available.
# Works on a fresh Debian/Ubuntu machine with only Python 3.11+: installs uv with pip (user site),
# and, as root, the Debian packages the stack and the tests use; as non-root it prints the command.
# Debian's python3 comes without pip and venv (they are the python3-pip and python3-venv packages),
# so those are installed the same way before pip is used.

# apt_install PACKAGE ...: install as root with apt-get; otherwise print the exact command and fail.
apt_install() {
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing $* with apt-get ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "bootstrap: missing packages; install them with: sudo apt-get install -y $*" >&2
    exit 1
  fi
}

# ensure_pip: python3 with pip and venv (ensurepip is what Debian leaves out of python3 without python3-venv).
ensure_pip() {
  command -v python3 >/dev/null 2>&1 \
    || { echo "bootstrap: python3 is not installed; install Python 3.11 or later (apt-get install python3)" >&2; exit 1; }
  local missing=()
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  [ ${#missing[@]} -eq 0 ] && return
  apt_install "${missing[@]}"
  python3 -m pip --version >/dev/null 2>&1 \
    || { echo "bootstrap: pip is still missing after installing ${missing[*]}" >&2; exit 1; }
}

ensure_uv() {
  if command -v uv >/dev/null 2>&1; then return; fi
  export PATH="$HOME/.local/bin:$PATH"
  if command -v uv >/dev/null 2>&1; then return; fi
  ensure_pip
  echo "bootstrap: installing uv with pip ..." >&2
  python3 -m pip install --quiet --user uv 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages uv 2>/dev/null \
    || python3 -m pip install --quiet uv \
    || { echo "bootstrap: could not install uv; install it (pip install uv) and retry" >&2; exit 1; }
  command -v uv >/dev/null 2>&1 || { echo "bootstrap: uv installed but not on PATH" >&2; exit 1; }
}

# ensure_packages BINARY:PACKAGE ...  (a binary is looked up on PATH, in sbin dirs and PostgreSQL's bin dir)
ensure_packages() {
  local missing=() pair binary package
  for pair in "$@"; do
    binary=${pair%%:*}; package=${pair##*:}
    if command -v "$binary" >/dev/null 2>&1 || [ -x "/usr/sbin/$binary" ] \
       || compgen -G "/usr/lib/postgresql/*/bin/$binary" >/dev/null; then
      continue
    fi
    missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  apt_install "${missing[@]}"
}
