import helpers  # noqa: F401
import json
import os
import tempfile
import unittest

import agentdata
import encoding
import tokenizer


class TokenizerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.texts = [agentdata.render(agentdata.conversation(s)[1]) for s in range(60)]
        cls.tok = tokenizer.train(cls.texts, 1200)

    def test_round_trip_and_special_tokens(self):
        tok = self.tok
        for text in self.texts[:20] + ["héllo 世界 12345 \n\n  x", ""]:
            self.assertEqual(tok.decode(tok.encode(text)), text)
        ids = tok.encode(encoding.BOS + "hi" + encoding.USER + "<｜DSML｜invoke")
        self.assertEqual(ids[0], 0)
        self.assertIn(tok.added[encoding.USER], ids)
        self.assertIn(tok.added[encoding.DSML], ids)
        self.assertEqual(tok.encode(encoding.EOS), [1])
        self.assertEqual(tok.vocab_size, 1200)

    def test_digits_split_in_threes_and_merges_learned(self):
        pieces = tokenizer.pretokenize("abc 1234567")
        self.assertEqual(pieces[-3:], ["123", "456", "7"])
        self.assertLess(len(self.tok.encode(self.texts[0])), len(self.texts[0].encode()) / 3)

    def test_hf_json_structure_and_reload(self):
        path = os.path.join(tempfile.mkdtemp(prefix="tok-"), "tokenizer.json")
        self.tok.save(path)
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        self.assertEqual(j["model"]["type"], "BPE")
        self.assertEqual([p["type"] for p in j["pre_tokenizer"]["pretokenizers"]],
                         ["Split", "Split", "Split", "ByteLevel"])
        added = {t["content"]: t["id"] for t in j["added_tokens"]}
        for t in encoding.SPECIAL_TOKENS:
            self.assertIn(t, added)
        self.assertEqual(added[encoding.BOS], 0)
        self.assertEqual(added[encoding.EOS], 1)
        self.assertEqual(len(j["model"]["merges"]), len(self.tok.merges))
        again = tokenizer.Tokenizer.load(path)
        self.assertEqual(again.encode(self.texts[5]), self.tok.encode(self.texts[5]))

    def test_trailing_space_split_copies_names_and_survives_reload(self):
        tok = tokenizer.train(self.texts, 1200, tokenizer.WORD_SPLITS["trailing-space"])
        name = "juniper68.out"
        # the name's pieces are the same after a word and a space, after '">' and alone
        self.assertEqual(tok.encode("read " + name), tok.encode("read ") + tok.encode(name))
        self.assertEqual(tok.encode('">' + name), tok.encode('">') + tok.encode(name))
        self.assertEqual(tok.encode(name + " now"), tok.encode(name + " ") + tok.encode("now"))
        for text in self.texts[:10]:
            self.assertEqual(tok.decode(tok.encode(text)), text)
        path = os.path.join(tempfile.mkdtemp(prefix="tok-"), "tokenizer.json")
        tok.save(path)
        again = tokenizer.Tokenizer.load(path)
        self.assertEqual(again.words, tokenizer.WORD_SPLITS["trailing-space"])
        self.assertEqual(again.encode(self.texts[3]), tok.encode(self.texts[3]))

    def test_unknown_id_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "out of range"):
            self.tok.decode([10 ** 6])


if __name__ == "__main__":
    unittest.main()
