#!/bin/sh
# Outside libs/wire, no non-test source file spells a subject prefix, an Sa-
# header name or a message-id format as a string literal (issue [7] item 1).
# Comments are skipped (`//` to the end of the line), and so is a line marked
# `// wire-lint: ok (why)`. Prints the offenders.
# Usage: no_wire_literals.sh <source root>
set -eu
root=${1:-.}
cd "$root"
files=$(find libs services bench fuzz -name '*.cc' -o -name '*.h' | grep -v -e '/tests/' -e '^libs/wire/' -e '^libs/testing/' | sort)
# Subject literals: under one of the project's roots and a prefix (ends in '.'),
# a wildcard, or one of the fixed subjects; Sa- headers; id formats.
pattern='"(((md|cdc|dlq|anomaly|view|sa\.audit|sa\.auth)\.([^" ]*(\.|>|\*))?)|\.(watermark|heartbeat)|dlq\.[a-z-]+|sa\.auth\.revoked|md\.raw\.[^"]*|_INBOX[._][^"]*|Sa-[A-Za-z-]+|(trade|candle|anomaly|dlq|sink|md):|:wm:)"'
found=$(for f in $files; do
  perl -ne 'BEGIN { $f = shift @ARGV } next if /wire-lint: ok/; s{//.*$}{}; print "$f:$.: $_" if /'"$pattern"'/' "$f" "$f"
done)
if [ -n "$found" ]; then
  echo "wire literals outside libs/wire (use wire/subjects.h, wire/headers.h, wire/msg_ids.h):"
  echo "$found"
  exit 1
fi
echo "no wire literals outside libs/wire"
