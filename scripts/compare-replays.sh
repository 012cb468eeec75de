#!/usr/bin/env bash
# Time two k8scop builds replaying the same file, alternately, so both meet
# the same machine load (single figures vary ±20% on a shared 2-core box).
#
#   scripts/compare-replays.sh ROUNDS INPUT NAME_A BIN_A RULES_A NAME_B BIN_B RULES_B [-- replay flags]
#
# Prints each run's wall time, CPU time and peak RSS, then the medians.
set -euo pipefail
rounds=$1 input=$2
name_a=$3 bin_a=$4 rules_a=$5
name_b=$6 bin_b=$7 rules_b=$8
shift 8
[[ ${1:-} == -- ]] && shift
declare -A wall cpu rss
run() { # name bin rules
    local name=$1 bin=$2 rules=$3 out
    shift 3
    # time's report is the last line of the run's stderr.
    /usr/bin/time -f '%e %U %S %M' "$bin" replay --input "$input" --rules "$rules" "$@" \
        >/dev/null 2>/tmp/compare-replays.err || true
    out=$(tail -1 /tmp/compare-replays.err)
    read -r w u s m <<<"$out"
    wall[$name]+="$w "; cpu[$name]+="$(echo "$u + $s" | bc) "; rss[$name]+="$m "
    echo "$name wall ${w}s cpu $(echo "$u + $s" | bc)s rss $((m / 1024)) MiB"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for ((i = 1; i <= rounds; i++)); do
    run "$name_a" "$bin_a" "$rules_a" "$@"
    run "$name_b" "$bin_b" "$rules_b" "$@"
done
for n in "$name_a" "$name_b"; do
    echo "median $n: wall $(echo "${wall[$n]}" | median)s cpu $(echo "${cpu[$n]}" | median)s rss $(( $(echo "${rss[$n]}" | median | cut -d. -f1) / 1024 )) MiB"
done
