# Sourced by answer-instructions.sh and answer-footprint.sh: checks valgrind is installed,
# builds the `answer` bench and sets `binary` to its own executable (the sextant-adapter binary
# is built beside it and listed too), from the repository's top.
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
cd "$(git rev-parse --show-toplevel)"
cargo bench -p metrics-adapter --bench answer --no-run
binary=$(cargo bench -p metrics-adapter --bench answer --no-run --message-format=json 2>/dev/null \
  | grep '"kind":\["bench"\]' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1 || true)
[ -x "$binary" ] || { echo "could not find the answer bench's executable" >&2; exit 1; }
