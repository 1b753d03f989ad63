#!/usr/bin/env bash
# The size limits of docs/architecture.md, checked on the production sources (src/, apps/; not
# tests, fixtures, test utilities or fuzz targets): every file over MAX_FILE lines (800) and
# every function over MAX_FUNCTION lines (150), counted from its signature's first line to its
# closing brace, for functions at namespace scope and methods defined in a class body. Prints
# what is over and exits 1 if anything is; `scripts/code-size.sh` from the project's root.
set -euo pipefail
cd "$(dirname "$0")/.."
max_file=${MAX_FILE:-800}
max_function=${MAX_FUNCTION:-150}
mapfile -t files < <(find src apps -name '*.cc' -o -name '*.h' | sort |
  grep -Ev '(_test\.cc|test_util|_testing|fixture|live_node|fuzz_targets|anvil_|scenario|conformance)')
over=0
for f in "${files[@]}"; do
  n=$(wc -l <"$f")
  if ((n > max_file)); then
    echo "file $f: $n lines (over $max_file)"
    over=1
  fi
done
awk -v max="$max_function" '
  FNR == 1 { state = 0 }
  # A function at namespace scope: a line at column 0 with "(", its body opened within 8 lines
  # and closed by the next "}" at column 0. A method in a class body: the same at two spaces.
  function starts(line, indent) {
    if (substr(line, 1, indent) != sprintf("%" indent "s", "") ) return 0
    rest = substr(line, indent + 1)
    if (rest ~ /^[ \t}#\/]/ || rest == "") return 0
    if (rest ~ /^(namespace|using|template|struct|class|enum|extern|union|static_assert|if|for|while|switch|return|else|do|case)[ (<{]/) return 0
    if (index(rest, "(") == 0) return 0
    # In a class body, a method names a return type before its name (or is a constructor):
    # a statement at two spaces inside a function body, such as "std::visit(...{", is not one.
    if (indent == 2) {
      head = substr(rest, 1, index(rest, "(") - 1)
      if (head !~ / / && head !~ /^~?[A-Z][A-Za-z0-9_]*$/) return 0
    }
    return 1
  }
  state == 0 && (starts($0, 0) || starts($0, 2)) {
    indent = (substr($0, 1, 1) == " ") ? 2 : 0
    begin = FNR; sig = $0; state = 1
  }
  state == 1 {
    if ($0 ~ /;[ \t]*$/ && $0 !~ /\{[ \t]*$/) { state = 0; next }
    if ($0 ~ /\{[ \t]*$/) { state = 2; next }
    if (FNR - begin > 8) state = 0
    next
  }
  state == 2 {
    closing = sprintf("%" indent "s", "") "}"
    if (substr($0, 1, indent + 1) == closing && substr($0, indent + 2, 1) != "}") {
      n = FNR - begin + 1
      if (n > max) { gsub(/^[ \t]+/, "", sig); printf "function %s:%d: %d lines (over %d): %s\n", FILENAME, begin, n, max, substr(sig, 1, 70); bad = 1 }
      state = 0
    }
  }
  END { exit bad }
' "${files[@]}" || over=1
exit $over
