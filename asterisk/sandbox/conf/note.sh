#!/bin/sh
# Sandbox far end: write down what a scripted callee received, one file per token, where
# the tests read it on the host (ROOT/opt/sandbox/results/<token>).
#   note.sh TOKEN answered       -> "answered <epoch>"
#   note.sh TOKEN hangup         -> "hangup <epoch> duration=<seconds since answered, or 0>"
#   note.sh TOKEN mark NAME      -> "mark NAME <epoch>" (when something happened: spoke, ...)
#   note.sh TOKEN WORD [VALUE]   -> "WORD VALUE" (digit 5, reached, played hello-world, ...)
# Epochs are seconds with millisecond precision. The token comes from the dialed number,
# which the dialplan matched as digits, so it is safe as a file name.
set -eu
dir=/opt/sandbox/results
file="$dir/$1"
now=$(date +%s.%3N)
case "$2" in
    answered)
        echo "answered $now" >>"$file"
        ;;
    hangup)
        start=$(awk '$1 == "answered" { print $2; exit }' "$file" 2>/dev/null || true)
        duration=$(awk -v a="${start:-}" -v b="$now" \
            'BEGIN { if (a == "") print "0"; else printf "%.3f\n", b - a }')
        echo "hangup $now duration=$duration" >>"$file"
        ;;
    mark)
        echo "mark $3 $now" >>"$file"
        ;;
    *)
        echo "$2${3:+ $3}" >>"$file"
        ;;
esac
