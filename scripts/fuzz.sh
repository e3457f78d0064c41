#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan + UBSan, in build-fuzz) and runs each one: first over its
# committed corpus (fuzz/corpus/<target>: seeds and regression inputs, each must pass), then fuzzing for a bounded
# time. New interesting inputs go to build-fuzz/corpus/<target> (kept between runs, not committed); crashes to
# build-fuzz/artifacts/<target>/. Every run appends one line per target to build-fuzz/fuzz-log.tsv (date, target,
# seconds, executions, coverage, result): the record of how much fuzzing was done.
# Usage: scripts/fuzz.sh [--seconds N] [--build-dir DIR] [--jobs J] [TARGET...]   (default: 60 s, every target)
#   FUZZ_SECONDS=N is the same as --seconds N; --seconds 0 only replays the corpus.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
build="$top/build-fuzz"
jobs=${JOBS:-2}
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build=$(realpath -m "$2"); shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ not found (scripts/deps.sh test installs clang)" >&2
  exit 2
fi
if [ ${#targets[@]} -eq 0 ]; then
  for d in "$top"/fuzz/targets/*.cpp; do targets+=("$(basename "$d" .cpp)"); done
fi

t0=$SECONDS
cmake -S "$top/fuzz" -B "$build" -DCMAKE_CXX_COMPILER=clang++ >/dev/null
set +e
cmake --build "$build" -j"$jobs" --target "${targets[@]/#/fuzz_}" |
  grep -Ev '^\[ *[0-9]+%\] (Building|Linking|Built)|^g?make(\[[0-9]+\])?: (Entering|Leaving) directory'
build_rc=${PIPESTATUS[0]}
set -e
if [ "$build_rc" -ne 0 ]; then
  echo "fuzz.sh: the build failed (an unknown target? see fuzz/targets/)" >&2
  exit 1
fi
echo "fuzz: built ${#targets[@]} targets in $((SECONDS - t0)) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
log="$build/fuzz-log.tsv"
[ -f "$log" ] || printf 'date\ttarget\tseconds\texecutions\tcoverage\tfeatures\tresult\n' >"$log"
failed=()
for t in "${targets[@]}"; do
  bin="$build/bin/fuzz_$t"
  seeds="$top/fuzz/corpus/$t"
  work="$build/corpus/$t"
  artifacts="$build/artifacts/$t/"
  mkdir -p "$seeds" "$work" "$artifacts"
  dict=()
  [ -f "$top/fuzz/dict/$t.dict" ] && dict=(-dict="$top/fuzz/dict/$t.dict")
  out="$build/fuzz-$t.out"
  common=(-timeout=20 -rss_limit_mb=2560 -artifact_prefix="$artifacts" -print_final_stats=1 "${dict[@]}")

  # 1. Replay: every committed input once (regressions must stay fixed).
  if ! "$bin" "${common[@]}" -runs=0 "$seeds" >"$out" 2>&1; then
    echo "== fuzz $t: FAILED on the committed corpus"; tail -n 40 "$out"
    failed+=("$t"); printf '%s\t%s\t0\t0\t-\t-\tcorpus-failure\n' "$(date -Is)" "$t" >>"$log"; continue
  fi
  [ "$seconds" -gt 0 ] || { echo "== fuzz $t: corpus ok"; continue; }

  # 2. Fuzz for a bounded time, from the committed corpus and what earlier runs found.
  rc=0
  "$bin" "${common[@]}" -max_total_time="$seconds" "$work" "$seeds" >"$out" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$out" | tail -n 1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$out" | tail -n 1 | cut -d' ' -f2)
  result=ok
  if [ "$rc" -ne 0 ]; then
    result=crash
    failed+=("$t")
    echo "== fuzz $t: CRASH after ${seconds} s; input saved in $artifacts"
    grep -E 'FUZZ_CHECK|ERROR: |SUMMARY|^    #[0-9] ' "$out" | head -n 30
    echo "   reproduce: $bin <artifact>; minimise: $bin -minimize_crash=1 -runs=100000 <artifact>"
    echo "   then: fix it, add a unit test in tests/unit/<module>/ and the input as fuzz/corpus/$t/regress-<what>"
  else
    echo "== fuzz $t: ok, ${execs:-?} executions in ${seconds} s, coverage ${cov:-?} edges, ${ft:-?} features"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -Is)" "$t" "$seconds" "${execs:-0}" "${cov:--}" "${ft:--}" "$result" >>"$log"
done
echo "fuzz: done in $((SECONDS - t0)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
