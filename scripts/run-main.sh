#!/usr/bin/env bash
# `make run`: the main job on the most complete real path that exists.
#  1. an agent task: recorded model output (examples/agent_demo.jsonl) parsed as DSML, validated,
#     and its tool calls executed in a real process sandbox over a fresh workspace;
#  2. the embedded engine: whale-tiny (models/whale-tiny) generates a turn for the example
#     conversation on this CPU, greedily.
# The embedded engine is not yet an agent backend (`whalebox run --backend embedded` is next).
set -euo pipefail
whalebox=$(realpath "${1:-build/whalebox}")
cd "$(dirname "$0")/.."
workspace=$(mktemp -d)
trap 'rm -rf "$workspace"' EXIT

echo "== whalebox run 'list the primes below 50' --replay examples/agent_demo.jsonl --workspace $workspace" >&2
"$whalebox" run "list the primes below 50" --replay examples/agent_demo.jsonl --workspace "$workspace"
echo "== files the sandboxed tools wrote: $(ls "$workspace" | tr '\n' ' ')" >&2

echo "== whalebox model generate --model models/whale-tiny --messages examples/conversation.json --greedy" >&2
"$whalebox" model generate --model models/whale-tiny --messages examples/conversation.json --greedy --max-tokens 128
echo
