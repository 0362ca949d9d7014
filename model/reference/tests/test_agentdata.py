import helpers  # noqa: F401
import json
import os
import tempfile
import unittest

import agentdata
import tools


class AgentDataTest(unittest.TestCase):
    def test_every_family_generates_with_real_results(self):
        for fam in agentdata.FAMILIES:
            for split in ("train", "heldout"):
                _, msgs = agentdata.conversation(hash((fam, split)) % 1000, split, fam)
                self.assertEqual(msgs[-1]["role"], "assistant")
                self.assertNotIn("tool_calls", msgs[-1])
                self.assertTrue(agentdata.render(msgs).endswith("<｜end▁of▁sentence｜>"))

    def test_copy_drill_trains_only(self):
        fams = [agentdata.Episode(seed, "train").family for seed in range(400)]
        self.assertIn("echo", fams)
        self.assertNotIn("echo", [agentdata.Episode(seed, "heldout").family for seed in range(400)])
        for seed in [s for s, f in enumerate(fams) if f == "echo"][:20]:
            _, msgs = agentdata.conversation(seed, "train")
            x = msgs[1]["content"]
            self.assertIn(msgs[-1]["content"], x)          # the answer is copied from the request
            if len(msgs) > 3:                               # the shell variant really ran echo
                self.assertEqual(msgs[3]["content"].strip(), msgs[-1]["content"])

    def test_terse_reasoning_leaves_names_out_and_changes_nothing_else(self):
        seen = set()
        for seed in range(300):
            fam, named = agentdata.conversation(seed, "train")
            _, terse = agentdata.conversation(seed, "train", terse=True)
            self.assertEqual(len(named), len(terse))
            calls = [json.loads(m["tool_calls"][0]["function"]["arguments"]) for m in named if "tool_calls" in m]
            names = {w for args in calls for v in args.values() for w in str(v).split()
                     if "." in w and w.rsplit(".", 1)[1] in agentdata.EXTS}
            if fam == "echo":                    # the drill's text to repeat stands for the name
                names = {c["command"].removeprefix("echo ") for c in calls}
            for a, b in zip(named, terse):
                if "tool_calls" not in a:        # requests, results and answers are the same
                    self.assertEqual(a, b)
                    continue
                self.assertEqual(a["tool_calls"], b["tool_calls"])
                self.assertEqual([n for n in names if n in b["reasoning_content"]], [], fam)
                # the variants differ exactly where the named one repeats a name
                repeats = any(n in a["reasoning_content"] for n in names)
                self.assertEqual(repeats, a["reasoning_content"] != b["reasoning_content"], (fam, a, b))
                seen |= {fam} if repeats else set()
        self.assertGreaterEqual(len(seen), 12)   # every family with a file name in a call

    def test_heldout_tasks_are_unchanged_by_training_only_families(self):
        # The draw for a held-out seed uses FAMILIES alone: the evaluation set stays comparable
        # across models trained with and without the drills.
        import random
        for seed in range(10_000_000, 10_000_050):
            rng = random.Random(seed)
            names = list(agentdata.FAMILIES)
            want = rng.choices(names, weights=[agentdata.FAMILIES[n][1] for n in names])[0]
            self.assertEqual(agentdata.Episode(seed, "heldout").family, want)

    def test_tool_results_come_from_execution(self):
        found = 0
        for seed in range(200):
            ep = agentdata.Episode(seed, "train")
            if ep.family != "lines":
                continue
            fam, msgs = agentdata.conversation(seed, "train")
            (name, text), = ep.files.items()
            self.assertEqual(msgs[3]["content"].strip(), str(text.count("\n")))
            self.assertIn(msgs[3]["content"].strip(), msgs[4]["content"])
            found += 1
        self.assertGreater(found, 5)

    def test_heldout_names_and_phrasings_are_unseen(self):
        self.assertFalse(set(agentdata.TRAIN_WORDS) & set(agentdata.HELDOUT_WORDS))
        for key, (train, held) in agentdata.PHRASES.items():
            self.assertFalse(set(train) & set(held), key)

    def test_training_names_are_open_ended_and_never_held_out(self):
        import random
        rng = random.Random(0)
        words = [agentdata.invented_word(rng) for _ in range(3000)]
        self.assertGreater(len(set(words)), 2500)                  # far more than a fixed word list
        self.assertFalse(set(words) & set(agentdata.HELDOUT_WORDS))
        self.assertEqual(set("".join(words)) - set("abcdefghijklmnopqrstuvwxyz"), set())
        self.assertEqual(len(set("".join(words))), 26)
        held = " ".join(t for _, h in agentdata.PHRASES.values() for t in h)
        train = " ".join(t for t_, _ in agentdata.PHRASES.values() for t in t_)
        for w in agentdata.OPENERS + agentdata.CLOSERS:   # no wrapper brings in held-out-only wording
            self.assertTrue(w not in held or w.strip(".") in train, w)
        users = [agentdata.Episode(seed, "train").user for seed in range(300)]
        self.assertTrue(any(u.startswith(tuple(agentdata.OPENERS)) for u in users))

    def test_composed_requests_are_varied_and_never_reproduce_a_heldout_template(self):
        users = [agentdata.Episode(seed, "train").user for seed in range(3000)]
        self.assertEqual(agentdata.heldout_overlap(users), [])
        templates = {t.split("{")[0][:12] for t_, _ in agentdata.PHRASES.values() for t in t_}
        composed = [u for u in users if not any(t and t in u for t in templates)]
        self.assertGreater(len(composed), 600)        # about half of the requests are built, not templated
        self.assertGreater(len(set(users)), 2900)
        # the guard itself: a held-out sentence is caught, with its slots filled in
        held = agentdata.PHRASES["lines"][1][1].format(f="x.txt")
        self.assertEqual(agentdata.heldout_overlap(["hey " + held]), ["find out the total lines in"])
        # held-out requests still come from the held-out templates only
        for seed in range(10_000_000, 10_000_100):
            ep = agentdata.Episode(seed, "heldout")
            if ep.family in ("read", "lines", "grep", "write"):
                held = agentdata.PHRASES[ep.family][1]
                self.assertTrue(any(ep.user.startswith(h.split("{")[0]) for h in held), ep.user)

    def test_second_heldout_set_is_unseen_too(self):
        import re
        chunks = {agentdata._norm(part) for ts in agentdata.HELDOUT2.values() for t in ts
                  for part in re.split(r"\{\w+\}", t) if len(agentdata._norm(part).split()) >= 4}
        self.assertGreater(len(chunks), 20)
        users = [agentdata._norm(agentdata.Episode(seed, "train").user) for seed in range(3000)]
        self.assertEqual([c for c in chunks if any(c in u for u in users)], [])
        self.assertEqual(set(agentdata.HELDOUT2), {k for k, (_, held) in agentdata.PHRASES.items() if held})
        for seed in range(10_000_000, 10_000_060):
            ep = agentdata.Episode(seed, "heldout2")
            self.assertEqual(ep.family, agentdata.Episode(seed, "heldout").family)   # same task mix
            templates = [t for ts in agentdata.HELDOUT2.values() for t in ts]
            self.assertTrue(any(ep.user.startswith(t.split("{")[0]) for t in templates), ep.user)
            self.assertIn(ep.system, agentdata.SYSTEMS[1])

    def test_tools_execute_in_workdir_only(self):
        d = tempfile.mkdtemp(prefix="tools-")
        self.assertEqual(tools.execute(d, "write_file", {"path": "a.txt", "content": "x\ny\n"}), "Wrote 4 bytes to a.txt")
        self.assertEqual(tools.execute(d, "read_file", '{"path": "a.txt"}'), "x\ny\n")
        self.assertEqual(tools.execute(d, "run_shell", {"command": "wc -l < a.txt"}).strip(), "2")
        self.assertEqual(tools.execute(d, "list_dir", {"path": "."}), "a.txt")
        self.assertIn("No such file", tools.execute(d, "read_file", {"path": "nope.txt"}))
        self.assertIn("outside the working directory", tools.execute(d, "read_file", {"path": "../../etc/passwd"}))
        self.assertIn("unknown tool", tools.execute(d, "rm", {}))
        self.assertIn("not valid JSON", tools.execute(d, "read_file", "{bad"))
        self.assertIn("[exit code 3]", tools.execute(d, "run_shell", {"command": "exit 3"}))
        self.assertIn("missing argument", tools.execute(d, "read_file", {}))

    def test_loss_mask_spans_cover_the_assistant_text(self):
        _, msgs = agentdata.conversation(7)
        text, spans = agentdata.assistant_spans(msgs)
        n_assistant = sum(1 for m in msgs if m["role"] == "assistant")
        self.assertEqual(len(spans), n_assistant)
        for s, e in spans:
            self.assertTrue(text[s:e].endswith("<｜end▁of▁sentence｜>"))
            self.assertIn("</think>", text[s:e])
        self.assertEqual(json.loads(json.dumps(msgs)), msgs)


if __name__ == "__main__":
    unittest.main()
