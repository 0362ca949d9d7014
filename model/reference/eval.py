"""End-to-end evaluation of a model on held-out agent tasks (unseen names and phrasings).

  /usr/bin/python3 eval.py --model ../../models/whale-tiny --tasks 200

For each task: render the conversation (V4 thinking mode, tools declared), generate greedily with
the incremental cache until EOS, parse the turn with the strict DSML parser, execute the calls for
real in a temporary directory, feed the results back, and repeat until the model answers. Metrics:
  well_formed  turns that emit DSML whose block parses strictly / turns that emit DSML
  right_call   expected tool-call steps where the model called that tool with those arguments
  correct      tasks whose final answer contains every expected fact (and made no wrong call)
and, from the logs, the expected call steps by cause (right, wrong tool, wrong argument names,
wrong value of which argument, ...), so a run's errors can be told apart without rerunning it.

With --probe it runs no tasks: it feeds the generator's own conversations and reports how often the
model's top prediction is right per kind of assistant token (copy_probe), in seconds."""

import argparse
import collections
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # deterministic summation order (see README)
os.environ.setdefault("OMP_NUM_THREADS", "1")
import shutil
import tempfile
import time

import torch

import agentdata
import encoding
import safetensors_io
import tokenizer as tok_mod
import tools
import train
from cache import Session
from model import Numerics, Run

MAX_TURNS = 4        # the longest task needs 3 calls and an answer
MAX_NEW = 120        # the longest assistant turn in the training data is 78 tokens


def run_task(model, tok, seed, log=None, split="heldout"):
    ep = agentdata.Episode(seed, split)
    workdir = tempfile.mkdtemp(prefix="whale-eval-")
    stats = {"family": ep.family, "dsml_turns": 0, "well_formed": 0, "expected_calls": 0, "right_calls": 0,
             "correct": False, "turns": []}
    try:
        ep.setup(workdir)
        messages = ep.first_messages()
        expected = next(ep.steps)
        wrong = False
        for turn in range(MAX_TURNS):
            prompt = tok.encode(agentdata.render(messages))
            out = Session(model).generate(prompt, MAX_NEW, stop=model.cfg.eos_token_id)
            text = tok.decode(out)
            stats["turns"].append(text)
            has_dsml = encoding.DSML in text
            if has_dsml:
                stats["dsml_turns"] += 1
            if isinstance(expected, agentdata.Call):
                stats["expected_calls"] += 1
            try:
                parsed = encoding.parse_completion(text)
            except encoding.ParseError as e:
                stats["error"] = str(e)
                break
            if has_dsml:
                stats["well_formed"] += 1
            calls = parsed["tool_calls"]
            if not calls:          # final answer
                content = parsed["content"]
                stats["answer"] = content
                stats["correct"] = (isinstance(expected, agentdata.Answer) and not wrong
                                    and all(s in content for s in expected.expect))
                break
            if isinstance(expected, agentdata.Call):   # logged for summarize()'s error causes
                step = {"expected": {"name": expected.name, "arguments": expected.args}, "got": calls}
                stats.setdefault("calls", []).append(step)
                if call_error(step["expected"], calls) == "right":
                    stats["right_calls"] += 1
                else:
                    wrong = True
            else:
                wrong = True
            messages.append({"role": "assistant", "reasoning_content": parsed["reasoning_content"],
                             "content": parsed["content"],
                             "tool_calls": [{"id": f"call_{turn}_{i}", "type": "function", "function": c}
                                            for i, c in enumerate(calls)]})
            results = [tools.execute(workdir, c["name"], c["arguments"]) for c in calls]
            for i, r in enumerate(results):
                messages.append({"role": "tool", "tool_call_id": f"call_{turn}_{i}", "content": r})
            if isinstance(expected, agentdata.Call):
                try:
                    expected = ep.steps.send(results[0])
                except (StopIteration, IndexError, ValueError):
                    wrong = True
                    break
            else:
                wrong = True
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if log:
        log.write(json.dumps({"seed": seed, **stats}, ensure_ascii=False) + "\n")
        log.flush()
    return stats


def call_error(expected, got):
    """Why an expected call step went wrong, or "right" (the right tool with the right arguments,
    argument JSON compared as values): what the model got wrong first."""
    if not got:
        return "no call"
    if len(got) > 1:
        return "several calls"
    if got[0]["name"] != expected["name"]:
        return "wrong tool"
    try:
        args = json.loads(got[0]["arguments"])
    except json.JSONDecodeError:
        return "arguments not JSON"
    if not isinstance(args, dict) or set(args) != set(expected["arguments"]):
        return "wrong argument names"
    bad = sorted(k for k in args if args[k] != expected["arguments"][k])
    return "wrong value: " + ", ".join(bad) if bad else "right"


def summarize(results):
    dsml = sum(r["dsml_turns"] for r in results)
    calls = sum(r["expected_calls"] for r in results)
    by_family = {}
    for r in results:
        f = by_family.setdefault(r["family"], [0, 0])
        f[0] += r["correct"]
        f[1] += 1
    return {
        "tasks": len(results),
        "well_formed": sum(r["well_formed"] for r in results) / max(1, dsml),
        "dsml_turns": dsml,
        "right_call": sum(r["right_calls"] for r in results) / max(1, calls),
        "expected_calls": calls,
        "correct": sum(r["correct"] for r in results) / max(1, len(results)),
        "by_family": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_family.items())},
        # Every call step the model reached (logs older than this field have none), by cause;
        # a malformed turn ends the task before its call is parsed, so it is not counted here.
        "calls": dict(collections.Counter(call_error(c["expected"], c["got"])
                                          for r in results for c in r.get("calls", [])).most_common()),
    }


def copy_probe(model, tok, seeds, split, terse=False):
    """Teacher-forced per-token accuracy of the model's top prediction on the generator's own
    assistant turns, by kind of target token: those that copy a piece of the request or of a tool
    result (train.copy_weights: "first" of a copied run, where the model has to find the piece,
    and the "rest" of the run), inside the DSML block ("dsml", the call's arguments) or before it
    ("text": reasoning and answers), and all other assistant tokens. A name of a few pieces copied
    two or three times per task needs about 99 % per token; this measures that in seconds, where
    the end-to-end evaluation takes minutes. `terse`: conversations in the --reasoning terse
    format (no file names in the reasoning before a call), for a model trained on it.
    Returns {kind: [right, total]}."""
    user, dsml = tok.added[encoding.USER], tok.added[encoding.DSML]
    counts = {k: [0, 0] for k in ("text_first", "text_rest", "dsml_first", "dsml_rest", "other")}
    for seed in seeds:
        ids, mask = train.encode_conversation(tok, agentdata.conversation(seed, split, terse=terse)[1])
        ids_t = torch.tensor([ids])
        weight = train.copy_weights(ids_t, torch.tensor([mask], dtype=torch.float32), 5.0, 2.0, user)[0].tolist()
        with torch.no_grad():
            predicted = model(ids_t, Run(Numerics()))[0].argmax(-1).tolist()
        in_dsml = False
        for i in range(1, len(ids)):
            if not mask[i]:
                in_dsml = False
                continue
            kind = {5.0: "first", 2.0: "rest"}.get(weight[i])
            kind = f"{'dsml' if in_dsml else 'text'}_{kind}" if kind else "other"
            counts[kind][0] += predicted[i - 1] == ids[i]
            counts[kind][1] += 1
            in_dsml = in_dsml or ids[i] == dsml   # an assistant turn's calls follow its text
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="directory with config.json, model.safetensors, tokenizer.json")
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--first-seed", type=int, default=10_000_000, help="task seeds start here")
    ap.add_argument("--split", choices=["heldout", "heldout2", "train"], default="heldout",
                    help="train: fresh tasks with training names and phrasings (a diagnostic: what the "
                         "model does on the kind of data it saw; use seeds no training run drew, e.g. 20000000)")
    ap.add_argument("--shard", default="0/1", help="i/n: evaluate every n-th task starting at i (parallel runs)")
    ap.add_argument("--log", default="", help="write one JSON line per task here")
    ap.add_argument("--probe", action="store_true",
                    help="teacher-forced copy accuracy per token kind on --tasks conversations (copy_probe), "
                         "not the end-to-end run")
    ap.add_argument("--reasoning", choices=agentdata.REASONING, default="names",
                    help="--probe only: the conversations' reasoning format, as train.py --reasoning")
    ap.add_argument("--summarize", nargs="+", metavar="LOG", help="only combine the --log files of parallel shards")
    args = ap.parse_args()
    if args.summarize:
        results = [json.loads(line) for path in args.summarize for line in open(path) if line.strip()]
        print(json.dumps(summarize(results), indent=1))
        return
    torch.set_num_threads(1)
    if not args.model:
        ap.error("--model is required")
    model = safetensors_io.load_model(args.model)
    tok = tok_mod.Tokenizer.load(os.path.join(args.model, "tokenizer.json"))
    i, n = map(int, args.shard.split("/"))
    if args.probe:
        t0 = time.time()
        counts = copy_probe(model, tok, range(args.first_seed + i, args.first_seed + args.tasks, n), args.split,
                            args.reasoning == "terse")
        print(json.dumps({"elapsed_s": round(time.time() - t0), **{k: {"right": r, "tokens": t,
              "accuracy": round(r / max(t, 1), 4)} for k, (r, t) in counts.items()}}))
        return
    log = open(args.log, "a") if args.log else None
    t0 = time.time()
    results = []
    for k in range(i, args.tasks, n):
        results.append(run_task(model, tok, args.first_seed + k, log, args.split))
        if len(results) % 10 == 0:
            print(json.dumps({"done": len(results), "elapsed_s": round(time.time() - t0), **summarize(results)}),
                  flush=True)
    print(json.dumps({"elapsed_s": round(time.time() - t0), **summarize(results)}))


if __name__ == "__main__":
    main()
