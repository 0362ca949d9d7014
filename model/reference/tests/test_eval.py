"""The evaluator scores a perfect agent as perfect and a broken one as broken (harness check)."""
from helpers import REFERENCE  # noqa: F401  (first: BLAS thread count before torch loads)
import unittest

import torch

import agentdata
import encoding
import eval as evaluator
import tokenizer
import train


class FakeModel:
    class cfg:
        eos_token_id = 1


def scripted_session(turns_by_seed, tok, corrupt=False):
    """A Session stand-in that replays the generator's own assistant turns."""
    state = {"seed": None, "k": 0}

    class Scripted:
        def __init__(self, model):
            pass

        def generate(self, prompt, max_new, stop=None):
            text = turns_by_seed[state["seed"]][state["k"]]
            state["k"] += 1
            if corrupt:
                text = text.replace("</｜DSML｜invoke>", "</｜DSML｜invok>")
            return tok.encode(text)
    return Scripted, state


class EvalHarnessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.seeds = list(range(500, 530))
        cls.turns = {}
        texts = []
        for seed in cls.seeds:
            _, msgs = agentdata.conversation(seed, "heldout")
            text, spans = agentdata.assistant_spans(msgs)
            cls.turns[seed] = [text[s:e] for s, e in spans]
            texts.append(text)
        cls.tok = tokenizer.train(texts, 800)

    def run_all(self, corrupt):
        Scripted, state = scripted_session(self.turns, self.tok, corrupt)
        saved = evaluator.Session
        evaluator.Session = Scripted
        try:
            results = []
            for seed in self.seeds:
                state["seed"], state["k"] = seed, 0
                results.append(evaluator.run_task(FakeModel(), self.tok, seed))
            return evaluator.summarize(results)
        finally:
            evaluator.Session = saved

    def test_perfect_agent_scores_perfectly(self):
        s = self.run_all(corrupt=False)
        self.assertEqual(s["tasks"], 30)
        self.assertGreater(s["expected_calls"], 20)
        self.assertEqual((s["well_formed"], s["right_call"], s["correct"]), (1.0, 1.0, 1.0), s)

    def test_malformed_dsml_is_counted(self):
        s = self.run_all(corrupt=True)
        self.assertEqual(s["well_formed"], 0.0)
        self.assertEqual(s["right_call"], 0.0)
        self.assertLess(s["correct"], 0.3)     # only the no-tool tasks can still succeed

    def test_call_errors_are_broken_down_by_cause(self):
        s = self.run_all(corrupt=False)
        self.assertEqual(s["calls"], {"right": s["expected_calls"]}, s)
        exp = {"name": "write_file", "arguments": {"path": "a.txt", "content": "x"}}
        got = lambda name, args: [{"name": name, "arguments": args}]
        self.assertEqual(evaluator.call_error(exp, []), "no call")
        self.assertEqual(evaluator.call_error(exp, got("write_file", "{}") * 2), "several calls")
        self.assertEqual(evaluator.call_error(exp, got("run_shell", '{"command": "x"}')), "wrong tool")
        self.assertEqual(evaluator.call_error(exp, got("write_file", "{bad")), "arguments not JSON")
        self.assertEqual(evaluator.call_error(exp, got("write_file", '{"path": "a.txt"}')), "wrong argument names")
        self.assertEqual(evaluator.call_error(exp, got("write_file", '{"path": "b.txt", "content": "x"}')),
                         "wrong value: path")
        self.assertEqual(evaluator.call_error(exp, got("write_file", '{"path": "a.txt", "content": "x"}')), "right")

    def test_right_call_compares_values(self):
        exp = {"name": "run_shell", "arguments": {"command": "wc -l < a"}}
        right = lambda name, args: evaluator.call_error(exp, [{"name": name, "arguments": args}]) == "right"
        self.assertTrue(right("run_shell", '{"command": "wc -l < a"}'))
        self.assertTrue(right("run_shell", '{ "command" : "wc -l < a" }'))   # values, not text
        self.assertFalse(right("run_shell", '{"command": "wc -l a"}'))
        self.assertFalse(right("read_file", '{"command": "wc -l < a"}'))
        self.assertFalse(right("run_shell", "{bad"))


class PredictingModel:
    """A model stand-in whose top prediction for position i+1 is chosen by wrong(ids, i): the true
    next token, or the pad token where wrong says so."""
    def __init__(self, vocab, wrong):
        self.vocab, self.wrong = vocab, wrong

    def __call__(self, ids, run=None):
        row = ids[0].tolist()
        logits = torch.zeros(1, len(row), self.vocab)
        for i in range(len(row) - 1):
            logits[0, i, 2 if self.wrong(row, i) else row[i + 1]] = 1.0
        return logits


class CopyProbeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.seeds = range(700, 712)
        texts = [agentdata.render(agentdata.conversation(s, "heldout")[1]) for s in cls.seeds]
        cls.tok = tokenizer.train(texts, 900)
        # every assistant token except the first of a turn is predicted (position 0 is never a target)
        cls.targets = sum(sum(train.encode_conversation(cls.tok, agentdata.conversation(s, "heldout")[1])[1][1:])
                          for s in cls.seeds)

    def probe(self, wrong):
        return evaluator.copy_probe(PredictingModel(self.tok.vocab_size, wrong), self.tok, self.seeds, "heldout")

    def test_every_assistant_token_is_counted_once(self):
        counts = self.probe(lambda row, i: False)
        self.assertEqual(sum(t for _, t in counts.values()), self.targets)
        for kind, (right, total) in counts.items():
            self.assertGreater(total, 0, kind)   # these tasks copy names in text and in calls
            self.assertEqual(right, total, kind)
        self.assertTrue(all(r == 0 for r, _ in self.probe(lambda row, i: True).values()))

    def test_dsml_kinds_are_the_tokens_after_a_turns_dsml_marker(self):
        assistant, dsml = self.tok.added[encoding.ASSISTANT], self.tok.added[encoding.DSML]

        def inside_call(row, i):   # the target at i+1 follows a DSML token of the same assistant turn
            turn = max(k for k in range(i + 1) if row[k] == assistant) if assistant in row[:i + 1] else 0
            return dsml in row[turn:i + 1]
        counts = self.probe(inside_call)
        for kind in ("dsml_first", "dsml_rest"):
            self.assertEqual(counts[kind][0], 0, kind)
        for kind in ("text_first", "text_rest"):
            self.assertEqual(counts[kind][0], counts[kind][1], kind)
        self.assertLess(counts["other"][0], counts["other"][1])   # the DSML tags themselves


if __name__ == "__main__":
    unittest.main()
