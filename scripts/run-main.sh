#!/usr/bin/env bash
# `make run`: a real agent task on the embedded engine, offline. whale-tiny (models/whale-tiny)
# runs in-process on this CPU through the `embedded` backend; the tool calls it writes are parsed,
# validated and executed in a real process sandbox over a fresh workspace; each turn processes only
# its new tokens (the KV cache is kept across turns). whale-tiny is a 5 M-parameter model that is
# right on 22-24 % of held-out tasks, so the tools and system prompt it was trained with are declared
# (--tools whale-tiny) and the tasks are of its training families; whatever it does is shown as it
# happened, then checked against the real answer.
set -euo pipefail
whalebox=$(realpath "${1:-build/whalebox}")
cd "$(dirname "$0")/.."
model=models/whale-tiny
workspace=$(mktemp -d)
answer_file=$(mktemp)
trap 'rm -rf "$workspace" "$answer_file"' EXIT
printf 'cloud river\nstone\nmaple tiger ocean\nsilver window\n' > "$workspace/garden.txt"

# Runs one task: the model's steps as they happen, its answer, and whether the answer holds `fact`.
task() {
  local prompt=$1 fact=$2 status=0
  echo "== whalebox run '$prompt' --model $model --tools whale-tiny --workspace $workspace --max-turns 4 --progress"
  "$whalebox" run "$prompt" --model "$model" --tools whale-tiny --workspace "$workspace" --max-turns 4 \
    --max-tokens 600 --progress 2>&1 >"$answer_file" || status=$?
  local answer
  answer=$(cat "$answer_file")
  echo "answer: ${answer:-(none; exit status $status)}"
  if [[ $status -eq 0 && "$answer" == *"$fact"* ]]; then
    echo "check: correct (the answer contains '$fact')"
  else
    echo "check: NOT correct (the true answer contains '$fact'; whale-tiny is weak: $model/MODEL_CARD.md)"
  fi
  echo
}

echo "== workspace $workspace holds: $(ls "$workspace" | tr '\n' ' ')"
task "What files are here?" "garden.txt"
task "How many lines are in garden.txt?" "$(wc -l < "$workspace/garden.txt")"
task "What is 17 plus 25?" "$((17 + 25))"
echo "== files in the workspace afterwards: $(ls "$workspace" | tr '\n' ' ')"
