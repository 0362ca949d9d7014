"""The Python V4 chat encoder against the official vectors, the strict parser, and byte equality
with `whalebox dsml render` (C++) on generated agent conversations."""
from helpers import REPO, SHARED  # first: sets the BLAS thread count before torch loads
import json
import os
import subprocess
import unittest

import agentdata
import encoding

OFFICIAL = os.path.join(SHARED, "testdata", "dsml", "official")
WHALEBOX = os.environ.get("WHALEBOX_BINARY", os.path.join(REPO, "build", "whalebox"))


class OfficialVectorsTest(unittest.TestCase):
    def test_official_vectors_render_byte_identically(self):
        if not os.path.isdir(OFFICIAL):
            self.skipTest(f"{OFFICIAL} not present (shared test data)")
        for i, mode in ((1, "thinking"), (2, "thinking"), (3, "thinking"), (4, "chat")):
            with open(os.path.join(OFFICIAL, f"test_input_{i}.json"), encoding="utf-8") as f:
                data = json.load(f)
            if isinstance(data, dict):
                messages = data["messages"]
                messages[0]["tools"] = data["tools"]
            else:
                messages = data
            with open(os.path.join(OFFICIAL, f"test_output_{i}.txt"), encoding="utf-8") as f:
                want = f.read()
            self.assertEqual(encoding.encode_messages(messages, mode), want, f"official vector {i}")

    def test_spec_examples(self):
        msgs = [{"role": "user", "content": "Hi"},
                {"role": "assistant", "reasoning_content": "greet", "content": "Hello!"},
                {"role": "user", "content": "2+2?"}]
        self.assertEqual(encoding.encode_messages(msgs),
                         "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜></think>Hello!<｜end▁of▁sentence｜>"
                         "<｜User｜>2+2?<｜Assistant｜><think>")
        zero = [{"role": "user", "content": "t"},
                {"role": "assistant", "reasoning_content": "", "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "now", "arguments": "{}"}}]}]
        self.assertIn("</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"now\">\n\n</｜DSML｜invoke>\n"
                      "</｜DSML｜tool_calls><｜end▁of▁sentence｜>", encoding.encode_messages(zero))


class ParserTest(unittest.TestCase):
    def test_spec_example(self):
        text = ("Need both.</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n"
                "<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n</｜DSML｜invoke>\n"
                "<｜DSML｜invoke name=\"search_flights\">\n<｜DSML｜parameter name=\"route\" string=\"false\">"
                "{\"from\": \"CDG\", \"to\": \"FCO\"}</｜DSML｜parameter>\n<｜DSML｜parameter name=\"max_stops\" "
                "string=\"false\">1</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>")
        p = encoding.parse_completion(text)
        self.assertEqual(p["reasoning_content"], "Need both.")
        self.assertEqual(p["content"], "")
        self.assertEqual(p["tool_calls"], [
            {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            {"name": "search_flights", "arguments": '{"route": {"from": "CDG", "to": "FCO"}, "max_stops": 1}'}])

    def test_generated_turns_parse_back(self):
        for seed in range(40):
            _, msgs = agentdata.conversation(seed)
            text = agentdata.render(msgs)
            turns = text.split(encoding.ASSISTANT + encoding.THINK)[1:]
            assistants = [m for m in msgs if m["role"] == "assistant"]
            self.assertEqual(len(turns), len(assistants))
            for turn, msg in zip(turns, assistants):
                turn = turn[:turn.index(encoding.EOS) + len(encoding.EOS)]
                p = encoding.parse_completion(turn)
                self.assertEqual(p["reasoning_content"], msg["reasoning_content"])
                self.assertEqual(p["content"], msg["content"])
                want = [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                        for c in msg.get("tool_calls", [])]
                self.assertEqual(p["tool_calls"], want)

    def test_malformed_is_rejected(self):
        bad = ["no close<｜end▁of▁sentence｜>",
               "r</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"x\">\n<｜DSML｜parameter name=\"a\" "
               "string=\"maybe\">1</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
               "r</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"x\">\n",
               "r</think>answer<｜end▁of▁sentence｜>trailing"]
        for text in bad:
            with self.assertRaises(encoding.ParseError, msg=text):
                encoding.parse_completion(text)


class CrossImplementationTest(unittest.TestCase):
    def test_generated_conversations_match_whalebox_dsml_render(self):
        if not os.access(WHALEBOX, os.X_OK):
            self.skipTest(f"{WHALEBOX} not built (build the C++ tree to compare renderers)")
        probe = subprocess.run([WHALEBOX, "dsml", "--help"], capture_output=True, timeout=30)
        if probe.returncode or b"render" not in probe.stdout:
            self.skipTest(f"{WHALEBOX} has no `dsml render` command yet (rebuild it)")
        for seed in range(30):
            _, msgs = agentdata.conversation(seed, "heldout" if seed % 3 == 0 else "train")
            request = {"messages": [{k: v for k, v in m.items() if k != "tools"} for m in msgs],
                       "tools": msgs[0]["tools"]}
            p = subprocess.run([WHALEBOX, "dsml", "render", "--mode", "thinking"], input=json.dumps(request).encode(),
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertEqual(p.stdout.decode("utf-8"), agentdata.render(msgs), f"conversation seed {seed}")


if __name__ == "__main__":
    unittest.main()
