"""Generator of agent conversations for whale-tiny: V4 thinking mode with tools declared, real
tool results (every call is executed in a temporary directory), final answers built from them.

Each task family is a Python generator: it yields Call(...) steps, receives the real tool result,
and finally yields Answer(...) with the strings a correct answer must contain. The same families
drive the evaluator, so a model is checked against exactly what the data teaches. Names and
phrasings come from disjoint 'train' and 'heldout' pools: held-out tasks use words and sentence
templates the model has never seen."""

import json
import os
import random
import re
import shutil
import tempfile
from dataclasses import dataclass, field

import encoding
import tools

TRAIN_WORDS = """apple river stone cloud maple tiger ocean pencil rocket garden silver window
forest candle copper meadow planet harbor violet marble thunder falcon summer winter autumn spring
lemon cherry orange banana mango peach melon olive pepper ginger basil cedar willow birch aspen
pine lotus tulip daisy orchid coral amber jade ruby pearl onyx quartz cobalt indigo crimson
scarlet ivory ebony bronze iron steel nickel zinc carbon neon argon helium lithium sodium
report budget invoice agenda memo draft summary ledger roster journal diary schedule recipe
inventory catalog manual guide index outline script notes todo tasks ideas plans goals metrics
alpha beta gamma delta sigma omega kappa lambda theta zeta orbit comet meteor nebula galaxy
quasar pulsar rover probe lander bridge tunnel castle tower market harbor village canyon valley
glacier desert island lagoon prairie tundra savanna jungle summit ridge delta basin""".split()

HELDOUT_WORDS = """walrus quokka saffron mosaic fjord zephyr quill tapestry lantern sprocket
kettle juniper obsidian marigold pylon bramble sherbet cobble nimbus pixel wombat trellis
flannel goblet mandolin pretzel sapphire tangerine umber vortex wicker yarrow zinnia anvil
bagel cactus dynamo ember fennel gizmo hazel igloo jigsaw kiwi""".split()

LINE_WORDS = """the a one two red blue green fast slow big small cat dog bird fish tree road
car train boat plane book page line word data value item list sun moon star rain snow wind fire
water earth light dark open closed left right up down new old hot cold good bad yes no check
done ready later first last next more less high low north south east west""".split()

EXTS = ["txt", "md", "log", "csv", "cfg", "dat", "ini", "out"]
# Reasoning formats of the training data (train.py / eval.py --reasoning); terse: Pools.why.
REASONING = ("names", "terse")

# Training names are mostly invented words: with only the ~170 words above, a model learns those
# words as single tokens instead of learning to copy a name it has never seen. An open-ended pool
# of letter sequences (every letter, 1-3 syllables) forces copying. Held-out words never occur.
ONSETS = ("b c d f g h j k l m n p q r s t v w x y z bl br ch cl cr dr fj fl fr gl gr kw pl pr qu "
          "sh sk sl sn sp st sw th tr tw wh wr zh").split()
VOWELS = "a e i o u y a e i o u ai ea ee ie oa oo ou".split()
CODAS = [""] * 12 + "b d f g k l m n p r s t x z ck ff ld ll mb nd ng nk nt rd rk rm rn rs sh st tt".split()


def invented_word(rng):
    while True:
        w = "".join(rng.choice(ONSETS if i or rng.random() < 0.8 else [""]) + rng.choice(VOWELS)
                    + rng.choice(CODAS) for i in range(rng.choice([1, 2, 2, 2, 3])))
        if 3 <= len(w) <= 10 and w not in HELDOUT_WORDS:
            return w


@dataclass
class Call:
    reasoning: str
    name: str
    args: dict
    content: str = ""


@dataclass
class Answer:
    reasoning: str
    content: str
    expect: list = field(default_factory=list)   # substrings a correct final answer contains


class Pools:
    """Names, contents and phrasings for one split."""

    def __init__(self, rng, split, terse=False):
        self.rng, self.split, self.terse = rng, split, terse
        self.heldout = split in HELDOUT_SPLITS
        self.words = HELDOUT_WORDS if self.heldout else TRAIN_WORDS

    def word(self):
        """A name/content word: held-out words for 'heldout'; for 'train' an invented word 70 % of
        the time, else a training word (held-out tasks draw exactly as before)."""
        r = self.rng
        if self.heldout or r.random() < 0.3:
            return r.choice(self.words)
        return invented_word(r)

    def name(self):
        r = self.rng
        w = self.word()
        style = r.randrange(6)
        if style == 0:
            base = w
        elif style == 1:
            base = f"{w}_{self.word()}"
        elif style == 2:
            base = f"{w}{r.randint(1, 99)}"
        elif style == 3:
            base = f"{w}-{self.word()}"
        elif style == 4:
            base = w.upper() if r.random() < 0.3 else w.capitalize()
        else:
            base = f"{self.word()}_{r.randint(2000, 2030)}"
        return f"{base}.{r.choice(EXTS)}"

    def names(self, n):
        out = []
        while len(out) < n:
            x = self.name()
            if x not in out:
                out.append(x)
        return out

    def line(self):
        r = self.rng
        words = [r.choice(LINE_WORDS) if r.random() < 0.7 else self.word() for _ in range(r.randint(1, 5))]
        if r.random() < 0.3:
            words.append(str(r.randint(0, 999)))
        return " ".join(words)

    def text(self, lo=1, hi=6):
        return "".join(self.line() + "\n" for _ in range(self.rng.randint(lo, hi)))

    def phrase(self, key, **kw):
        train, held = PHRASES[key]
        if self.split == "heldout2":
            return self.rng.choice(HELDOUT2[key]).format(**kw)
        if self.split == "heldout":
            return self.rng.choice(held).format(**kw)
        if key in COMPOSE and self.rng.random() < 0.5:
            return compose(self, key, **kw)
        return self.vary(self.rng.choice(train).format(**kw))

    def vary(self, text):
        """Training requests with random openers, closers, case and punctuation, so the model
        keys on the request's content words rather than on a template's exact wording."""
        r = self.rng
        if r.random() < 0.4:
            return text
        if r.random() < 0.3:
            text = text.rstrip(".?!")
        if r.random() < 0.3:
            text = text[:1].lower() + text[1:]
        if r.random() < 0.5:
            text = f"{r.choice(OPENERS)} {text}"
        if r.random() < 0.4:
            text = f"{text} {r.choice(CLOSERS)}"
        return text

    def pick(self, options):
        return self.rng.choice(options)

    def why(self, named, terse):
        """Reasoning before a call: `named` repeats the file names the call will use; `terse` (the
        --reasoning terse data) does not, so each name is copied once, straight into the argument,
        instead of request -> reasoning -> argument, where a wrong first copy is copied again."""
        return terse if self.terse else named


# Phrasings: (train templates, held-out templates).
PHRASES = {
    "read": ([
        "What's in {f}?", "Show me the contents of {f}.", "Can you read {f} for me?", "Print {f}.",
        "Open {f} and tell me what it says.", "read {f}", "I need to see {f}.", "Display the file {f}, please.",
        "What does {f} contain?", "cat {f}",
    ], ["Could you peek inside {f}?", "Let me know what is written in {f}.", "Dump the text of {f}."]),
    "lines": ([
        "How many lines are in {f}?", "Count the lines of {f}.", "What's the line count of {f}?",
        "how many lines does {f} have", "Tell me the number of lines in {f}.", "Line count for {f}?",
        "Give me the number of lines in the file {f}.", "Please count how many lines {f} has.",
    ], ["I wonder how long {f} is in lines.", "Find out the total lines in {f}.", "{f}: number of lines?"]),
    "words": ([
        "How many words are in {f}?", "Count the words in {f}.", "What's the word count of {f}?",
        "word count of {f}", "Tell me how many words {f} contains.", "Please count the words in the file {f}.",
    ], ["Figure out how many words make up {f}.", "{f} has how many words?"]),
    "head": ([
        "Show the first {k} lines of {f}.", "What are the first {k} lines of {f}?", "head {k} lines of {f}",
        "Print the top {k} lines of {f}.", "Give me the first {k} lines in {f}.", "I need the opening {k} lines of {f}.",
    ], ["Let me see just the beginning of {f}, {k} lines.", "Only the leading {k} lines of {f}, please."]),
    "list": ([
        "What files are here?", "List the files in the current directory.", "Show me the directory contents.",
        "ls", "Which files do I have?", "What's in this folder?", "Please list everything in the working directory.",
        "Can you list the files?",
    ], ["Enumerate the files around here.", "Tell me what this directory holds."]),
    "grep": ([
        "Which lines of {f} mention {w}?", "Search {f} for {w}.", "Find {w} in {f}.", "grep {w} in {f}",
        "Does {f} contain the word {w}? Show the matching lines.", "Look for {w} inside {f}.",
        "Show me the lines with {w} in {f}.",
    ], ["Hunt down every occurrence of {w} in {f}.", "Where does {w} appear in {f}?"]),
    "calc": ([
        "What is {a} {op} {b}?", "Compute {a} {op} {b}.", "Calculate {a} {op} {b} using the shell.",
        "{a} {op} {b} = ?", "Please work out {a} {op} {b}.", "Can you tell me {a} {op} {b}?",
        "Use bash to compute {a} {op} {b}.",
    ], ["Quick sum for me: {a} {op} {b}.", "Evaluate {a} {op} {b} for me."]),
    "write": ([
        "Write \"{t}\" to {f}.", "Create {f} containing: {t}", "Save the text \"{t}\" into {f}.",
        "Put \"{t}\" in a file called {f}.", "Make a file {f} with the line {t}",
        "Please create {f} and write \"{t}\" in it.",
    ], ["Store \"{t}\" as the content of {f}.", "I want {f} to say \"{t}\"."]),
    "replace": ([
        "In {f}, replace {w} with {v}.", "Change every {w} to {v} in {f}.", "Replace {w} by {v} in the file {f}.",
        "Edit {f}: swap {w} for {v}.", "Please substitute {v} for {w} throughout {f}.",
    ], ["Rewrite {f} so that {w} becomes {v}.", "Turn each {w} into {v} inside {f}."]),
    "append": ([
        "Append \"{t}\" to {f}.", "Add the line \"{t}\" at the end of {f}.", "Add \"{t}\" to the end of {f}.",
        "Please append the line {t} to {f}.",
    ], ["Tack \"{t}\" onto the end of {f}.", "Extend {f} with one more line: {t}"]),
    "copy_count": ([
        "Copy {f} to {g} and tell me how many lines the copy has.",
        "Duplicate {f} as {g}, then count the lines of {g}.",
        "Make a copy of {f} named {g} and report its line count.",
    ], ["Clone {f} into {g} and check how many lines ended up in {g}."]),
    "list_read": ([
        "There is one {e} file here. What does it say?", "Find the {e} file in this directory and show it.",
        "Read the only .{e} file in the folder.", "Show me the contents of the {e} file here.",
    ], ["Locate the lone .{e} file and tell me its text.", "Whatever .{e} file is here, print it."]),
    "lines_times": ([
        "Count the lines in {f} and multiply the count by {k}.", "How many lines does {f} have, times {k}?",
        "Take the line count of {f} and multiply it by {k}.",
    ], ["Multiply {f}'s number of lines by {k}.", "What do I get if I scale the line count of {f} by {k}?"]),
    "compare": ([
        "Which has more lines, {f} or {g}?", "Compare the line counts of {f} and {g}.",
        "Is {f} longer than {g} in lines?", "Count lines in {f} and {g} and tell me which is longer.",
    ], ["Between {f} and {g}, which one has the greater number of lines?"]),
    "echo": ([
        "Repeat exactly: {x}", "Say back {x}", "Type {x} for me.", "Copy this: {x}",
        "Write back exactly what follows: {x}", "Please repeat {x}.",
    ], []),
    "echo_shell": ([
        "Run echo {x}", "Use the shell to echo {x}.", "Execute: echo {x}", "Print {x} with the shell.",
    ], []),
    "hello": ([
        "Hi!", "Hello", "hey there", "Good morning!", "Hi, who are you?", "Hello, can you help me?",
    ], ["Greetings!", "Howdy, anyone there?"]),
    "which_tools": ([
        "What tools do you have?", "Which tools can you use?", "List your tools.", "What can you do with tools?",
    ], ["Tell me about the tools at your disposal.", "Name the tools you are able to call."]),
}

# A second held-out set of sentence templates, written after the training vocabulary above was
# frozen and the run that uses it had started, so nothing in training was shaped by them. Names and
# contents are the held-out words, as in 'heldout'.
HELDOUT_SPLITS = ("heldout", "heldout2")
HELDOUT2 = {
    "read": ["I'd like to view {f}.", "Please output everything that {f} has in it.", "What text does {f} hold?"],
    "lines": ["Give me a line tally for {f}.", "How many rows of text does {f} have?",
              "Measure {f}: how many lines long is it?"],
    "words": ["What is the total word count in {f}?", "Tally up the words in {f}."],
    "head": ["Print only the top {k} lines from {f}.", "Can I get lines 1 through {k} of {f}?"],
    "list": ["Which files exist in this folder?", "Show the folder listing."],
    "grep": ["Pick out the lines of {f} that include {w}.", "Search through {f} and show where {w} is used."],
    "calc": ["Work out {a} {op} {b} in the shell.", "Tell me the answer to {a} {op} {b}."],
    "write": ["Fill {f} with the text \"{t}\".", "Produce a file named {f} holding \"{t}\"."],
    "replace": ["Swap out {w} and put {v} in its place in {f}.", "Inside {f}, change all {w} into {v}."],
    "append": ["Add one line, \"{t}\", below everything in {f}.", "Put \"{t}\" on a new final line in {f}."],
    "copy_count": ["Back up {f} as {g}, then tell me the number of lines in {g}."],
    "list_read": ["Find the file ending in .{e} and show me what it says."],
    "lines_times": ["Take how many lines {f} has and multiply that by {k}."],
    "compare": ["Does {f} have more lines than {g}, or the other way round?"],
    "hello": ["Hey, good to see you!", "Hello hello"],
    "which_tools": ["What are your available tools?", "Which functions can you call for me?"],
}

# Generic wrappers for training requests only (none of them occurs in a held-out template).
OPENERS = ["Please", "Hey,", "Hi,", "Okay,", "So,", "Hello,", "One thing:", "Task:", "Next:", "Now", "Could you do this?",
           "I have a request.", "Hey there.", "Right,", "Alright:", "Question:", "Help me out:", "Ok."]
CLOSERS = ["Thanks!", "thanks", "Please.", "Cheers.", "Thank you.", "ty", "if you can.", "right now.", "for me.",
           "asap", "Appreciated.", ":)"]

OPS = {"plus": "+", "minus": "-", "times": "*", "+": "+", "-": "-", "*": "*", "x": "*"}



# --- compositional training requests -------------------------------------------------------------
# Templates alone teach a small model ~10 sentences per intent; a held-out sentence then shares
# almost nothing with them. Training requests are therefore also *built*: a generic lead ("can
# you", "find out", "tell me" - shared by every intent, so it carries no intent), an intent cue
# from a wide vocabulary of everyday synonyms placed around the slots, optional invented filler
# words (unknown words must be ignorable) and varied punctuation. The cue vocabulary is ordinary
# English for each operation; no held-out sentence template is reproduced (`heldout_overlap`
# checks that no held-out template's literal chunk of 4+ words occurs in a composed request).

LEADS = ["", "", "", "please", "can you", "could you", "would you", "I'd like you to", "I want you to",
         "kindly", "go ahead and", "help me", "try to", "now", "quickly", "just", "let me know",
         "tell me", "find out", "figure out", "check", "I wonder", "I need to know", "work out",
         "determine", "report", "I'd like to know", "can I get", "give me", "show me", "let me see",
         "I need", "I want", "we need", "look up", "get me", "time to", "next,", "first,", "hey,", "ok,"]
TAILS = ["", "", "", "", "please", "for me", "thanks", "thank you", "if possible", "quickly", "now",
         "when you can", "real quick", "right away", "ok?", "cheers"]

# Slot vocabularies, written <slot> in the fragments below.
VOCAB = {
    "see": ["show", "display", "print", "read", "open", "view", "output", "dump", "reveal", "cat",
            "fetch", "get", "see", "look at", "peek at", "peek into", "look inside", "go through",
            "bring up", "pull up", "return", "give me", "let me see", "echo back", "inspect"],
    "body": ["contents", "content", "text", "data", "body", "full text", "whole text", "everything",
             "writing", "stuff"],
    "in": ["in", "inside", "within", "of", "from"],
    "count": ["count", "tally", "total up", "compute", "get", "give me", "measure", "find",
              "calculate", "report", "what is", "tell me"],
    "howmany": ["how many", "the number of", "the count of", "the total number of", "the total",
                "the amount of", "how much"],
    "first": ["first", "top", "opening", "leading", "initial", "starting", "beginning", "earliest"],
    "search": ["search", "grep", "scan", "look through", "check", "search through", "comb", "go over"],
    "find": ["find", "locate", "look for", "show", "list", "get", "spot", "pick out", "hunt for",
             "print", "dig up", "track down"],
    "hits": ["lines with", "lines containing", "lines that mention", "every line with",
             "occurrences of", "each occurrence of", "matches for", "mentions of", "lines matching",
             "rows with", "places where it says"],
    "files": ["files", "file names", "filenames", "entries", "contents", "things", "items", "documents"],
    "here": ["here", "in this directory", "in the directory", "in this folder", "in the folder",
             "in the current directory", "around here", "in the working directory", "present",
             "in here", "in cwd", "in this place"],
    "listv": ["list", "enumerate", "show", "name", "print", "tell me", "give me", "display", "go over",
              "catalog", "inventory"],
    "write": ["write", "save", "store", "put", "place", "record", "dump", "set", "keep", "type",
              "output"],
    "make": ["create", "make", "produce", "generate", "start", "set up", "build", "write"],
    "append": ["append", "add", "tack", "attach", "stick", "put", "join", "push", "extend with",
               "add on"],
    "end": ["the end of", "the bottom of", "the tail of", "the end of the file", "after the last line of",
            "the last line of"],
    "replace": ["replace", "swap", "change", "substitute", "switch", "exchange", "convert"],
    "into": ["with", "to", "for", "by", "into"],
    "become": ["becomes", "turns into", "is changed to", "gets replaced by", "reads", "is now"],
    "copy": ["copy", "duplicate", "clone", "cp", "mirror", "back up", "replicate"],
    "times": ["multiply", "scale", "times", "multiplied by", "scaled by", "by a factor of", "x"],
    "more": ["more", "the most", "the greater number of", "the larger count of", "a higher count of",
             "the bigger number of"],
}

COMPOSE = {
    "read": ["<see> {f}", "<see> the <body> <in> {f}", "what is <in> {f}", "what's <in> {f}",
             "what {f} says", "the <body> of {f}", "{f} <body>", "{f}, <see> it", "<see> {f} to me",
             "what does {f} say", "what {f} contains", "what has been written in {f}", "the file {f}"],
    "lines": ["<howmany> lines <in> {f}", "<count> the lines <in> {f}", "<count> <howmany> lines {f} has",
              "{f} line count", "the line count <in> {f}", "how long {f} is, in lines", "the length of {f} in lines",
              "{f}: <howmany> lines", "lines <in> {f}: how many", "<howmany> lines does {f} have",
              "{f} has <howmany> lines", "number of lines, {f}", "<count> lines of {f}", "{f} lines total"],
    "words": ["<howmany> words <in> {f}", "<count> the words <in> {f}", "<count> <howmany> words {f} has",
              "{f} word count", "the word count <in> {f}", "how long {f} is, in words", "the length of {f} in words",
              "{f}: <howmany> words", "words <in> {f}: how many", "<howmany> words does {f} have",
              "{f} has <howmany> words", "number of words, {f}", "<count> words of {f}", "{f} words total",
              "how many words are used in {f}", "the number of words that form {f}"],
    "head": ["<see> the <first> {k} lines <in> {f}", "the <first> {k} lines <in> {f}", "<first> {k} lines of {f}",
             "{k} lines from the start of {f}", "{f}, <first> {k} lines", "{f}: the <first> {k} lines",
             "the start of {f}, {k} lines", "just {k} lines from the top of {f}", "only the <first> {k} lines <in> {f}",
             "{k} <first> lines <in> {f}", "the beginning of {f} ({k} lines)", "lines 1 to {k} of {f}",
             "head -n {k} {f}", "the first {k} rows of {f}"],
    "list": ["<listv> the <files> <here>", "what <files> are <here>", "which <files> are <here>",
             "<listv> the <files>", "what this directory holds", "what is <here>", "the <files> <here>",
             "the directory listing", "what is in the current folder", "ls the folder",
             "<listv> what the folder contains", "the <files> that exist <here>"],
    "grep": ["<find> the <hits> {w} <in> {f}", "<search> {f} for {w}", "<find> {w} <in> {f}",
             "where {w} appears <in> {f}", "where does {w} show up <in> {f}", "<hits> {w} <in> {f}",
             "which lines of {f} have {w}", "{f}: <hits> {w}", "<search> {f} and <find> {w}",
             "does {f} mention {w}", "{w} <in> {f}, which lines", "every place {w} occurs in {f}"],
    "calc": ["{a} {op} {b}", "what {a} {op} {b} is", "the result of {a} {op} {b}", "{a} {op} {b}, the answer",
             "<count> {a} {op} {b}", "evaluate {a} {op} {b}", "the value of {a} {op} {b}", "sum up {a} {op} {b}",
             "do the math: {a} {op} {b}", "what you get for {a} {op} {b}"],
    "write": ["<write> \"{t}\" in {f}", "<write> \"{t}\" into {f}", "<make> {f} with \"{t}\"",
              "<make> {f} containing \"{t}\"", "<make> a file {f} that says \"{t}\"", "{f} should contain \"{t}\"",
              "{f} must say \"{t}\"", "\"{t}\" goes in {f}", "<write> the text \"{t}\" to {f}",
              "set the content of {f} to \"{t}\"", "<make> {f}: \"{t}\"", "make {f} say \"{t}\""],
    "replace": ["<replace> {w} <into> {v} in {f}", "in {f}, <replace> {w} <into> {v}", "<replace> every {w} <into> {v} in {f}",
                "{f}: <replace> {w} <into> {v}", "make {w} into {v} throughout {f}", "in {f} {w} <become> {v}",
                "edit {f} so {w} <become> {v}", "{w} -> {v} in {f}", "<replace> all {w} in {f} <into> {v}",
                "fix {f}: {w} should be {v}"],
    "append": ["<append> \"{t}\" to <end> {f}", "<append> \"{t}\" onto {f}", "<append> \"{t}\" at <end> {f}",
               "{f} needs one more line: \"{t}\"", "at <end> {f}, <append> \"{t}\"", "<append> a line \"{t}\" to {f}",
               "<append> \"{t}\" after what is in {f}", "{f}: <append> \"{t}\" at the end",
               "extend {f} by \"{t}\"", "add \"{t}\" as a new last line of {f}"],
    "copy_count": ["<copy> {f} to {g} and <count> the lines <in> {g}", "<copy> {f} as {g}, then <howmany> lines {g} has",
                   "<copy> {f} into {g}; <count> <howmany> lines are in {g}", "make {g} a copy of {f} and tell me its line count",
                   "{f} -> {g} (copy), then line count of {g}"],
    "list_read": ["<find> the .{e} file and <see> it", "<see> the one .{e} file <here>", "the only {e} file <here>: <see> it",
                  "<listv> the <files>, then <see> the .{e} one", "there is a single .{e} file; <see> it",
                  "whichever .{e} file exists, <see> its <body>", "<see> the {e} file in this folder"],
    "lines_times": ["<howmany> lines <in> {f}, <times> {k}", "<times> the line count of {f} by {k}",
                    "the lines <in> {f} <times> {k}", "{f}'s line count <times> {k}", "<count> the lines of {f} and <times> by {k}",
                    "lines of {f} times {k}", "{k} times the number of lines in {f}"],
    "compare": ["which of {f} and {g} has <more> lines", "does {f} or {g} have <more> lines", "{f} vs {g}: which has <more> lines",
                "<count> lines in {f} and {g}; which is longer", "is {g} longer than {f} in lines", "which is longer, {f} or {g}",
                "of {f} and {g}, which one has <more> lines"],
    "hello": ["hi", "hello", "hey", "greetings", "good evening", "good afternoon", "howdy", "yo", "hiya", "hello there",
              "anyone there?", "hi there, are you around?"],
    "which_tools": ["what tools do you have", "<listv> your tools", "which tools are available to you",
                    "what can you call", "name your tools", "the tools you can use", "what functions can you call",
                    "tell me about your tools", "what tools are at hand"],
}


def compose(P, key, **kw):
    """A composed training request for intent `key` (see the comment above)."""
    r = P.rng
    frag = r.choice(COMPOSE[key])
    while "<" in frag and ">" in frag:
        i = frag.index("<")
        j = frag.index(">", i)
        frag = frag[:i] + r.choice(VOCAB[frag[i + 1:j]]) + frag[j + 1:]
    text = frag.format(**kw)
    lead = "" if key == "hello" else r.choice(LEADS)
    words = [x for x in (lead, text, r.choice(TAILS)) if x]
    if r.random() < 0.25:   # an unknown word somewhere: the model must learn to ignore it
        words.insert(r.randrange(len(words) + 1), invented_word(r))
    text = " ".join(words)
    if heldout_overlap([text]):
        return compose(P, key, **kw)
    if r.random() < 0.5:
        text = text[:1].upper() + text[1:]
    return text + r.choice(["", "", ".", "?", "!", " please."])


def _norm(s):
    return " " + " ".join(re.findall(r"[a-z0-9']+", s.lower())) + " "


def _heldout_chunks():
    chunks = set()
    for _, held in PHRASES.values():
        for t in held:
            for part in re.split(r"\{\w+\}", t):
                if len(_norm(part).split()) >= 4:
                    chunks.add(_norm(part))
    return sorted(chunks)


HELDOUT_CHUNKS = _heldout_chunks()


def heldout_overlap(requests):
    """Held-out template chunks of 4+ words (lower case, punctuation stripped) found in requests."""
    return sorted({c.strip() for c in HELDOUT_CHUNKS for q in requests if c in _norm(q)})


# --- task families -------------------------------------------------------------------------------

def fam_read(P, files):
    f = P.name()
    files[f] = P.text()
    yield P.phrase("read", f=f)
    r = yield Call(P.why(*P.pick([(f"The user wants the contents of {f}. I'll read it.",
                                   "The user wants the contents of the file. I'll read it."),
                                  (f"I need to read {f}.", "I need to read the file."),
                                  (f"Read {f} with read_file.", "Read it with read_file.")])),
                   "read_file", {"path": f})
    yield Answer(P.pick(["I have the contents.", "Now show it.", "Got the file."]),
                 f"{f} contains:\n{r}", [r.strip()])


def fam_missing(P, files):
    f = P.name()
    for _ in range(P.rng.randint(0, 2)):
        files[P.name()] = P.text()
    files.pop(f, None)
    key = P.pick(["read", "lines", "words"])
    yield P.phrase(key, f=f)
    if key == "read":
        r = yield Call(P.why(f"I need to read {f}.", "I need to read the file."), "read_file", {"path": f})
    else:
        flag = "-l" if key == "lines" else "-w"
        r = yield Call(f"Count with wc {flag}.", "run_shell", {"command": f"wc {flag} < {f}"})
    yield Answer(P.pick(["The file does not exist.", "The tool reported an error: no such file."]),
                 P.pick([f"The file {f} does not exist.", f"I couldn't find {f}: there is no such file.",
                         f"There is no file named {f} in the working directory."]), [f])


def fam_count(P, files, key):
    f = P.name()
    files[f] = P.text(1, 12)
    yield P.phrase(key, f=f)
    flag, unit = ("-l", "lines") if key == "lines" else ("-w", "words")
    r = yield Call(P.why(f"Count the {unit} of {f} with wc {flag}.", f"Count the {unit} with wc {flag}."),
                   "run_shell", {"command": f"wc {flag} < {f}"})
    n = r.strip()
    yield Answer(f"wc printed {n}.", P.pick([f"{f} has {n} {unit}.", f"There are {n} {unit} in {f}.",
                                             f"The file {f} contains {n} {unit}."]), [n])


def fam_head(P, files):
    f = P.name()
    files[f] = P.text(4, 9)
    k = P.rng.randint(1, 3)
    yield P.phrase("head", f=f, k=k)
    r = yield Call(P.why(f"Use head -n {k} on {f}.", f"Use head -n {k}."), "run_shell", {"command": f"head -n {k} {f}"})
    yield Answer("Here they are.", f"The first {k} lines of {f}:\n{r}", [r.strip()])


def fam_list(P, files):
    for name in P.names(P.rng.randint(1, 4)):
        files[name] = P.text()
    yield P.phrase("list")
    r = yield Call("List the current directory.", "list_dir", {"path": "."})
    entries = r.split("\n")
    yield Answer(f"There are {len(entries)} entries.", "The directory contains: " + ", ".join(entries) + ".", entries)


def fam_grep(P, files):
    f = P.name()
    text = P.text(3, 8)
    lines = text.splitlines()
    w = P.rng.choice(P.rng.choice(lines).split())
    files[f] = text
    yield P.phrase("grep", f=f, w=w)
    r = yield Call(P.why(f"Search {f} for {w} with grep -n.", "Search the file with grep -n."), "run_shell",
                   {"command": f"grep -n {w} {f}"})
    yield Answer("grep found matches.", f"Lines of {f} containing {w}:\n{r}", [r.strip()])


def fam_calc(P, files):
    a, b = P.rng.randint(2, 999), P.rng.randint(2, 99)
    word = P.pick(list(OPS))
    op = OPS[word]
    yield P.phrase("calc", a=a, b=b, op=word)
    r = yield Call(f"Compute {a} {op} {b} with shell arithmetic.", "run_shell", {"command": f"echo $(({a} {op} {b}))"})
    n = r.strip()
    yield Answer(f"The shell says {n}.", P.pick([f"{a} {op} {b} = {n}.", f"The result is {n}.", f"It is {n}."]), [n])


def fam_write(P, files):
    f = P.name()
    t = P.line()
    yield P.phrase("write", f=f, t=t)
    r = yield Call(P.why(f"Write the text to {f}.", "Write the text to the file."), "write_file",
                   {"path": f, "content": t + "\n"})
    yield Answer("The write succeeded.", P.pick([f"Done: {f} now contains \"{t}\".", f"I wrote \"{t}\" to {f}.",
                                                 f"Saved. {r}."]), [f], )


def fam_replace(P, files):
    f = P.name()
    text = P.text(2, 6)
    w = P.rng.choice(P.rng.choice(text.splitlines()).split())
    v = P.rng.choice([x for x in LINE_WORDS + P.words if x != w])
    files[f] = text
    yield P.phrase("replace", f=f, w=w, v=v)
    yield Call(P.why(f"Use sed to replace {w} with {v} in {f}.", "Use sed to replace the word."), "run_shell",
               {"command": f"sed -i 's/{w}/{v}/g' {f}"})
    r = yield Call("Check the result.", "read_file", {"path": f})
    yield Answer("The replacement is done.", f"Replaced {w} with {v} in {f}. It now reads:\n{r}", [r.strip()])


def fam_append(P, files):
    f = P.name()
    files[f] = P.text(1, 4)
    t = P.line()
    yield P.phrase("append", f=f, t=t)
    yield Call(P.why(f"Append with echo >> {f}.", "Append with echo >>."), "run_shell",
               {"command": f"echo '{t}' >> {f}"})
    r = yield Call("Count the lines now.", "run_shell", {"command": f"wc -l < {f}"})
    n = r.strip()
    yield Answer(f"{f} now has {n} lines.", f"Appended \"{t}\" to {f}; it now has {n} lines.", [n])


def fam_copy_count(P, files):
    f, g = P.names(2)
    files[f] = P.text(1, 9)
    yield P.phrase("copy_count", f=f, g=g)
    yield Call(P.why(f"Copy {f} to {g} with cp.", "Copy it with cp."), "run_shell", {"command": f"cp {f} {g}"})
    r = yield Call(P.why(f"Count the lines of {g}.", "Count the lines of the copy."), "run_shell",
                   {"command": f"wc -l < {g}"})
    n = r.strip()
    yield Answer(f"The copy has {n} lines.", f"Copied {f} to {g}; {g} has {n} lines.", [n])


def fam_list_read(P, files):
    e = P.pick(EXTS)
    target = P.name().rsplit(".", 1)[0] + "." + e
    files[target] = P.text(1, 4)
    for name in P.names(P.rng.randint(1, 3)):
        if not name.endswith("." + e):
            files[name] = P.text()
    yield P.phrase("list_read", e=e)
    r = yield Call("First list the directory to find it.", "list_dir", {"path": "."})
    found = [x for x in r.split("\n") if x.endswith("." + e)][0]
    r = yield Call(P.why(f"The {e} file is {found}. Read it.", f"Read the .{e} file."), "read_file", {"path": found})
    yield Answer("Got it.", f"The .{e} file is {found}; it contains:\n{r}", [found, r.strip()])


def fam_lines_times(P, files):
    f = P.name()
    files[f] = P.text(1, 12)
    k = P.rng.randint(2, 50)
    yield P.phrase("lines_times", f=f, k=k)
    r = yield Call(P.why(f"First count the lines of {f}.", "First count the lines."), "run_shell",
                   {"command": f"wc -l < {f}"})
    n = r.strip()
    r = yield Call(P.why(f"{f} has {n} lines. Multiply by {k}.", f"It has {n} lines. Multiply by {k}."), "run_shell",
                   {"command": f"echo $(({n} * {k}))"})
    p = r.strip()
    yield Answer(f"{n} * {k} = {p}.", f"{f} has {n} lines; {n} * {k} = {p}.", [p])


def fam_compare(P, files):
    f, g = P.names(2)
    files[f], files[g] = P.text(1, 10), P.text(1, 10)
    yield P.phrase("compare", f=f, g=g)
    a = (yield Call(P.why(f"Count lines of {f} first.", "Count lines of the first file."), "run_shell",
                    {"command": f"wc -l < {f}"})).strip()
    b = (yield Call(P.why(f"{f} has {a}. Now {g}.", f"The first has {a}. Now the second."), "run_shell",
                    {"command": f"wc -l < {g}"})).strip()
    if int(a) == int(b):
        yield Answer("They are equal.", f"Both have {a} lines.", [a])
    else:
        big = f if int(a) > int(b) else g
        yield Answer(f"{a} vs {b}.", f"{big} is longer: {f} has {a} lines and {g} has {b}.", [big, a, b])


def fam_echo(P, files):
    """Copy drill (training only): repeat a name, a line or a number verbatim, either directly or
    through `echo`. Names and numbers in every other family must be copied from the request or a
    tool result; a small model learns that (induction-style attention) from dense copying first."""
    r = P.rng
    x = P.pick([P.name, P.line, lambda: str(r.randint(0, 99999)), lambda: f"{P.name()} {P.name()}"])()
    if r.random() < 0.5:
        yield P.phrase("echo", x=x)
        yield Answer(f"Repeat {x} exactly.", x, [x])
    else:
        yield P.phrase("echo_shell", x=x)
        out = yield Call(P.why(f"Run echo {x} in the shell.", "Run echo in the shell."), "run_shell",
                         {"command": f"echo {x}"})
        yield Answer(f"It printed {out.strip()}.", out.strip(), [x])


def fam_hello(P, files):
    yield P.phrase("hello")
    yield Answer("A greeting; no tool is needed.", P.pick([
        "Hello! I can read, write and list files and run shell commands for you.",
        "Hi! Ask me about your files or give me a command to run."]), [])


def fam_which_tools(P, files):
    yield P.phrase("which_tools")
    yield Answer("The user asks about my tools; no call needed.",
                 "I can use " + ", ".join(tools.TOOL_NAMES) + ".", list(tools.TOOL_NAMES))


FAMILIES = {
    "read": (fam_read, 3), "missing": (fam_missing, 2), "lines": (lambda P, f: fam_count(P, f, "lines"), 3),
    "words": (lambda P, f: fam_count(P, f, "words"), 2), "head": (fam_head, 2), "list": (fam_list, 2),
    "grep": (fam_grep, 2), "calc": (fam_calc, 3), "write": (fam_write, 2), "replace": (fam_replace, 2),
    "append": (fam_append, 2), "copy_count": (fam_copy_count, 2), "list_read": (fam_list_read, 2),
    "lines_times": (fam_lines_times, 2), "compare": (fam_compare, 2), "hello": (fam_hello, 1),
    "which_tools": (fam_which_tools, 1),
}
# Families that only train: held-out tasks draw from FAMILIES alone, so adding a drill leaves the
# evaluation set exactly as it was.
TRAIN_ONLY = {"echo": (fam_echo, 3)}

SYSTEMS = (["You are a helpful assistant with access to a sandboxed working directory.",
            "You are whale-tiny, a small agent that works on files.", "You are a careful file assistant.",
            "You help the user with files and shell commands."],
           ["You are an assistant operating inside a scratch folder."])


def family_table(split):
    return FAMILIES if split in HELDOUT_SPLITS else {**FAMILIES, **TRAIN_ONLY}


def pick_family(rng, split):
    table = family_table(split)
    names = list(table)
    return rng.choices(names, weights=[table[n][1] for n in names])[0]


class Episode:
    """A task instance: files to create, the user's request and the step generator."""

    def __init__(self, seed, split, family=None, terse=False):
        self.rng = random.Random(seed)
        self.split = split
        self.family = family or pick_family(self.rng, split)
        self.pools = Pools(self.rng, split, terse)
        self.files = {}
        self.steps = family_table(split)[self.family][0](self.pools, self.files)
        self.user = next(self.steps)
        self.system = self.rng.choice(SYSTEMS[1] if split in HELDOUT_SPLITS else SYSTEMS[0])

    def setup(self, workdir):
        for name, text in self.files.items():
            with open(os.path.join(workdir, name), "w", encoding="utf-8") as f:
                f.write(text)

    def first_messages(self):
        return [{"role": "system", "content": self.system, "tools": tools.TOOLS},
                {"role": "user", "content": self.user}]


def assistant_message(step, call_id):
    if isinstance(step, Answer):
        return {"role": "assistant", "reasoning_content": step.reasoning, "content": step.content}
    return {"role": "assistant", "reasoning_content": step.reasoning, "content": step.content,
            "tool_calls": [{"id": call_id, "type": "function",
                            "function": {"name": step.name, "arguments": json.dumps(step.args, ensure_ascii=False)}}]}


def conversation(seed, split="train", family=None, terse=False):
    """Generate one complete conversation (messages), executing every call for real; `terse`
    leaves file names out of the reasoning before calls (Pools.why)."""
    ep = Episode(seed, split, family, terse)
    workdir = tempfile.mkdtemp(prefix="whale-data-")
    try:
        ep.setup(workdir)
        messages = ep.first_messages()
        step = next(ep.steps)
        n = 0
        while isinstance(step, Call):
            n += 1
            messages.append(assistant_message(step, f"call_{n}"))
            result = tools.execute(workdir, step.name, step.args)
            messages.append({"role": "tool", "tool_call_id": f"call_{n}", "content": result})
            step = ep.steps.send(result)
        messages.append(assistant_message(step, None))
        return ep.family, messages
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def render(messages):
    return encoding.encode_messages(messages, "thinking")


def assistant_spans(messages):
    """Character spans [start, end) of the text the model must produce (after each
    '<｜Assistant｜><think>' up to and including the EOS), for loss masking."""
    text = render(messages)
    spans, pos = [], 0
    opener = encoding.ASSISTANT + encoding.THINK
    while True:
        i = text.find(opener, pos)
        if i < 0:
            break
        start = i + len(opener)
        end = text.find(encoding.EOS, start) + len(encoding.EOS)
        spans.append((start, end))
        pos = end
    return text, spans


if __name__ == "__main__":
    import sys
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    fam, msgs = conversation(seed, sys.argv[2] if len(sys.argv) > 2 else "train")
    print(fam)
    print(render(msgs))
