#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Measures what a baked relative-index table adds to compiling one translation unit:
# wall time, CPU time and peak memory (/usr/bin/time -f '%e %U %S %M') of a TU that uses
# rel_indices_v<S> minus a baseline TU that includes the same header but uses no table; and the
# same for the generated-header route (`gpsa table --format c`, included by a C++ TU).
# Each figure is the best of REPS runs (CPU time is the robust one on a busy machine).
#
# usage: tools/compile_cost.sh [-r REPS] [-s "7 14 16 24 32"] [-c "g++ clang++"] [-g PATH/TO/gpsa]
# Without -g the generated-header rows are left out. Prints a Markdown table.
set -euo pipefail

reps=3
sizes="7 14 16 24 32"
compilers="g++ clang++"
gpsa=""
while getopts "r:s:c:g:" opt; do
  case $opt in
    r) reps=$OPTARG ;;
    s) sizes=$OPTARG ;;
    c) compilers=$OPTARG ;;
    g) gpsa=$OPTARG ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
common=(-std=c++20 -O2 -I "$root/include" -c -o "$work/out.o")

# The flags gpsa_bake_large() (cmake/gpsa_bake.cmake) adds, per compiler.
limit_flags() {
  case $("$1" --version | head -n 1) in
    *clang*) echo "-fconstexpr-steps=4294967295" ;;
    *) echo "-fconstexpr-ops-limit=1099511627776" ;;
  esac
}

# best_of FILE FLAGS...: prints "wall_s cpu_s peak_kb" (each the best of $reps), or "fail" when
# the file does not compile.
best_of() {
  local src=$1; shift
  local best_t="" best_c="" best_m=""
  for ((i = 0; i < reps; i++)); do
    if ! /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" "$src" 2>"$work/err" >/dev/null; then
      echo fail; return
    fi
    read -r t u s m <"$work/time"
    c=$(awk "BEGIN{printf \"%.2f\", $u + $s}")
    if [[ -z $best_t ]] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; fi
    if [[ -z $best_c ]] || awk "BEGIN{exit !($c < $best_c)}"; then best_c=$c; fi
    if [[ -z $best_m ]] || ((m < best_m)); then best_m=$m; fi
  done
  echo "$best_t $best_c $best_m"
}

# row ROUTE COMPILER S "wall cpu kb" BASE_WALL BASE_CPU BASE_KB FLAGS
row() {
  local t c m
  read -r t c m <<<"$4"
  echo "| $1 | $2 | $3 | $t | $c | $((m / 1024)) | $(awk "BEGIN{printf \"%+.2f\", $t - $5}") |" \
       "$(awk "BEGIN{printf \"%+.2f\", $c - $6}") | $(((m - $7) / 1024)) | $8 |"
}

cat >"$work/base_constexpr.cpp" <<'CPP'
#include <gpsa/rel_indices.hpp>
const float* gpsa_table() { return nullptr; }
CPP
cat >"$work/base_header.cpp" <<'CPP'
#include <stdint.h>
const float* gpsa_table() { return nullptr; }
CPP

echo "| route | compiler | S | wall (s) | cpu (s) | peak (MB) | added wall (s) | added cpu (s) | added peak (MB) | flags |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for cxx in $compilers; do
  case $("$cxx" --version | head -n 1) in
    *clang*) name="Clang $("$cxx" -dumpversion | cut -d. -f1)" ;;
    *) name="GCC $("$cxx" -dumpversion | cut -d. -f1)" ;;
  esac
  read -r bt bc bm <<<"$(best_of "$work/base_constexpr.cpp" "$cxx" "${common[@]}")"
  echo "| baseline: includes rel_indices.hpp | $name | - | $bt | $bc | $((bm / 1024)) | | | | |"
  for s in $sizes; do
    printf '#include <gpsa/rel_indices.hpp>\nconst float* gpsa_table() { return gpsa::rel_indices_v<%s>.data(); }\n' "$s" \
      >"$work/use_$s.cpp"
    flags=""
    r=$(best_of "$work/use_$s.cpp" "$cxx" "${common[@]}")
    if [[ $r == fail ]]; then
      flags=$(limit_flags "$cxx")
      # shellcheck disable=SC2086
      r=$(best_of "$work/use_$s.cpp" "$cxx" "${common[@]}" $flags)
    fi
    if [[ $r == fail ]]; then
      echo "| constexpr rel_indices_v | $name | $s | fails | | | | | | ${flags:-default limits} |"
      continue
    fi
    row "constexpr rel_indices_v" "$name" "$s" "$r" "$bt" "$bc" "$bm" "${flags:-default limits}"
  done
  if [[ -n $gpsa ]]; then
    read -r ht hc hm <<<"$(best_of "$work/base_header.cpp" "$cxx" "${common[@]}")"
    echo "| baseline: includes stdint.h | $name | - | $ht | $hc | $((hm / 1024)) | | | | |"
    for s in $sizes; do
      "$gpsa" table --grid "$s" --format c -o "$work/table_$s.h" >/dev/null
      printf '#include "table_%s.h"\nconst float* gpsa_table() { return &gpsa_rel_indices_%sx%s[0][0][0]; }\n' "$s" "$s" "$s" \
        >"$work/hdr_$s.cpp"
      row "generated C header" "$name" "$s" "$(best_of "$work/hdr_$s.cpp" "$cxx" "${common[@]}")" "$ht" "$hc" "$hm" "default limits"
    done
  fi
done
