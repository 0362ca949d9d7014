#!/usr/bin/env bash
# `make run`: the main job on the most complete real path that exists.
# Today: render an example conversation to the exact V4 prompt, then parse an example completion
# (reasoning + DSML tool calls) and validate it against the declared tools.
set -euo pipefail
whalebox=${1:-build/whalebox}
cd "$(dirname "$0")/.."
echo "== whalebox dsml render --mode thinking < examples/conversation.json" >&2
"$whalebox" dsml render --mode thinking < examples/conversation.json
echo >&2
echo "== whalebox dsml parse --tools examples/tools.json < examples/completion.txt" >&2
"$whalebox" dsml parse --mode thinking --tools examples/tools.json < examples/completion.txt
