#!/usr/bin/env bash
# record-scenario.sh TEST NAME : run the namespace test TEST (e.g. 13), take
# what mgmd's core did there (its --record file), and keep the inputs as the
# golden scenario tests/scenarios/NAME/input.jsonl. The expected outputs are
# then written by the scenario test itself:
#   UPDATE_GOLDEN=1 cargo test --test scenarios
# Needs root (the namespace test does).
set -euo pipefail
cd "$(dirname "$0")/.."
test=$1 name=$2
file=$(ls netns-tests/"$test"-*.sh)
dir=$(mktemp -d /tmp/mgmd-scenario.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cargo build --bins --quiet
TOPO_DIR=$dir KEEP_TOPO_DIR=1 bash "$file" >/dev/null
rec=$(ls "$dir"/*.rec | head -n 1)
mkdir -p "tests/scenarios/$name"
# The inputs only: the outputs are what the test compares.
python3 - "$rec" "tests/scenarios/$name/input.jsonl" <<'PY'
import json, sys
src, dst = sys.argv[1:3]
with open(src) as f, open(dst, "w") as out:
    for line in f:
        if not line.endswith("\n"):
            break
        d = json.loads(line)
        d.pop("out", None)
        out.write(json.dumps(d, separators=(",", ":")) + "\n")
PY
echo "tests/scenarios/$name/input.jsonl: $(wc -l <"tests/scenarios/$name/input.jsonl") lines from $file"
