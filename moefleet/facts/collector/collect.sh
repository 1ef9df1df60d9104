# moefleet fact collector, POSIX sh fallback for hosts without Python 3.
# Usage: sh -c "$THIS" moefleet-collect TIMEOUT DISK_PATH...
# Runs the same commands as collect.py (one after another, each under `timeout` when the host
# has it) and prints the same JSON document between the same marker lines. Output is escaped
# for JSON with awk; control characters other than newline and tab are dropped.

T=${1:-20}
shift
[ $# -gt 0 ] || set -- /
PATH="$PATH:/usr/local/cuda/bin:/usr/local/bin:/usr/sbin:/sbin"
LC_ALL=C LANG=C
export PATH LC_ALL LANG
TMP=$(mktemp -d 2>/dev/null || echo "/tmp/moefleet-collect.$$")
mkdir -p "$TMP" 2>/dev/null
trap 'rm -rf "$TMP"' EXIT

have() { command -v "$1" >/dev/null 2>&1; }
esc() {
  tr -d '\000-\010\013\014\016-\037' | awk 'BEGIN { ORS = "" }
    { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); gsub(/\t/, "\\t")
      if (NR > 1) printf "\\n"; printf "%s", $0 }'
}
str() { printf '"'; printf '%s' "$1" | esc; printf '"'; }

# cmd NAME ARGV... : one JSON member "NAME": {...} followed by a comma
cmd() {
  name=$1; shift
  if ! have "$1"; then printf '"%s":{"missing":true},' "$name"; return; fi
  if have timeout; then
    timeout -s KILL "$T" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null; rc=$?
  else
    "$@" >"$TMP/out" 2>"$TMP/err" </dev/null; rc=$?
  fi
  to=false; [ "$rc" = 124 ] || [ "$rc" = 137 ] && to=true
  printf '"%s":{"rc":%d,"timed_out":%s,"stdout":"' "$name" "$rc" "$to"
  esc <"$TMP/out"; printf '","stderr":"'; esc <"$TMP/err"; printf '"},'
}

add_file() { if [ -r "$2" ]; then printf '"%s":' "$1"; str "$(cat "$2")"; printf ','; fi; }

printf '\n<<<MOEFLEET-FACTS\n{"collector":"sh","version":1,'
printf '"hostname":'; str "$(uname -n)"; printf ',"kernel":'; str "$(uname -r)"
printf ',"arch":'; str "$(uname -m)"; printf ',"files":{'
add_file os-release /etc/os-release; add_file meminfo /proc/meminfo; add_file pid1 /proc/1/comm
have lscpu || add_file cpuinfo /proc/cpuinfo
printf '"_":null},"commands":{'
cmd nvidia-smi-xml nvidia-smi -q -x
cmd lspci lspci -vvnn -D
cmd lscpu lscpu
cmd llama-server llama-server --version
cmd docker docker --version
cmd systemctl systemctl --version
cmd nvcc nvcc --version
cmd sensors sensors
for d in "$@"; do
  p=$d
  while [ ! -e "$p" ] && [ "$p" != / ]; do p=$(dirname "$p"); done
  cmd "df:$d" df -P -k "$p"
done
printf '"_":{"missing":true}}}\nMOEFLEET-FACTS>>>\n'
