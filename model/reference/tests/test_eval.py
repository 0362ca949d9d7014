"""The evaluator scores a perfect agent as perfect and a broken one as broken (harness check)."""
from helpers import REFERENCE  # noqa: F401  (first: BLAS thread count before torch loads)
import unittest

import agentdata
import eval as evaluator
import tokenizer


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


if __name__ == "__main__":
    unittest.main()
