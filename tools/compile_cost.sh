#!/usr/bin/env bash
# Measures what a baked relative-index table adds to compiling one translation unit:
# wall time and peak memory (/usr/bin/time -f '%e %M') of a TU that uses rel_indices_v<S>
# minus a baseline TU that includes the same header but uses no table; and the same for the
# generated-header route (`gpsa table --format c`, included by a TU). Best of REPS runs.
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
    *clang*) echo "-fconstexpr-steps=2147483647" ;;
    *) echo "-fconstexpr-ops-limit=68719476736" ;;
  esac
}

# best_of FILE FLAGS...: prints "seconds peak_kb" (best of $reps), or "fail" when it does not compile.
best_of() {
  local src=$1; shift
  local best_t="" best_m=""
  for ((i = 0; i < reps; i++)); do
    if ! /usr/bin/time -f '%e %M' -o "$work/time" "$@" "$src" 2>"$work/err" >/dev/null; then
      echo fail; return
    fi
    read -r t m <"$work/time"
    if [[ -z $best_t ]] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; fi
    if [[ -z $best_m ]] || ((m < best_m)); then best_m=$m; fi
  done
  echo "$best_t $best_m"
}

cat >"$work/base_constexpr.cpp" <<'CPP'
#include <gpsa/rel_indices.hpp>
const float* gpsa_table() { return nullptr; }
CPP
cat >"$work/base_header.cpp" <<'CPP'
#include <stdint.h>
const float* gpsa_table() { return nullptr; }
CPP

echo "| route | compiler | S | time (s) | peak (MB) | added time (s) | added peak (MB) | flags |"
echo "|---|---|---|---|---|---|---|---|"
for cxx in $compilers; do
  name=$("$cxx" --version | head -n 1 | sed -E 's/.* version ([0-9]+)\..*/\1/; s/^g\+\+ .* ([0-9]+)\.[0-9]+\.[0-9]+$/\1/')
  case $("$cxx" --version | head -n 1) in *clang*) name="Clang $name" ;; *) name="GCC $name" ;; esac
  read -r bt bm <<<"$(best_of "$work/base_constexpr.cpp" "$cxx" "${common[@]}")"
  echo "| baseline (header only) | $name | - | $bt | $((bm / 1024)) | - | - | |"
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
      echo "| constexpr | $name | $s | fails | | | | ${flags:-default} |"
      continue
    fi
    read -r t m <<<"$r"
    echo "| constexpr | $name | $s | $t | $((m / 1024)) | $(awk "BEGIN{printf \"%.2f\", $t - $bt}") | $(((m - bm) / 1024)) | ${flags:-default limits} |"
  done
  if [[ -n $gpsa ]]; then
    read -r ht hm <<<"$(best_of "$work/base_header.cpp" "$cxx" "${common[@]}")"
    for s in $sizes; do
      "$gpsa" table --grid "$s" --format c -o "$work/table_$s.h" >/dev/null
      printf '#include "table_%s.h"\nconst float* gpsa_table() { return &gpsa_rel_indices_%sx%s[0][0][0]; }\n' "$s" "$s" "$s" \
        >"$work/hdr_$s.cpp"
      read -r t m <<<"$(best_of "$work/hdr_$s.cpp" "$cxx" "${common[@]}")"
      echo "| generated header | $name | $s | $t | $((m / 1024)) | $(awk "BEGIN{printf \"%.2f\", $t - $ht}") | $(((m - hm) / 1024)) | default limits |"
    done
  fi
done
