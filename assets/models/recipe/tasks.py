"""Synthetic long-context tasks, built exactly as the specs in assets/tasks/*.json say.

Standard library only: the generators take an `encode(text) -> list[int]` function (no special
tokens) and the BOS id, so they can be checked without torch or tokenizers. train.py uses them for
evaluation (spec-exact prompts) and to check its own fast, vectorised training-row builders.
"""
import itertools
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
TASKS_DIR = os.path.abspath(os.path.join(HERE, "..", "..", "tasks"))


def load_spec(name, tasks_dir=TASKS_DIR):
    with open(os.path.join(tasks_dir, name + ".json"), encoding="utf-8") as fh:
        return json.load(fh)


def filler_path(spec, tasks_dir=TASKS_DIR):
    return os.path.join(tasks_dir, spec["filler"]["file"])


# ------------------------------------------------------------------------------------------ passkey
class Passkey:
    def __init__(self, spec, encode, bos_id):
        self.spec = spec
        self.encode = encode
        self.bos = bos_id
        self.alphabet = spec["passkey"]["alphabet"]
        self.k = spec["passkey"]["length"]
        t = spec["templates"]
        self.needle_t, self.question_t, self.answer_t = t["needle"], t["question"], t["answer"]
        self.question_ids = encode(self.question_t)

    def sample_key(self, rng):
        return "".join(rng.choice(self.alphabet) for _ in range(self.k))

    def needle_ids(self, key):
        return self.encode(self.needle_t.replace("{passkey}", key))

    def answer(self, key):
        return self.answer_t.replace("{passkey}", key)

    @staticmethod
    def split_point(depth, n):
        return int(math.floor(depth * n + 0.5))

    def build(self, filler_ids, length, depth, rng, key=None):
        """One prompt of exactly `length` ids. Returns a dict with ids, key, answer, needle span, p."""
        key = key if key is not None else self.sample_key(rng)
        needle = self.needle_ids(key)
        n = length - 1 - len(needle) - len(self.question_ids)
        if n < 0:
            raise ValueError("length %d too short for needle+question" % length)
        o = rng.randint(0, len(filler_ids) - n)
        f = filler_ids[o:o + n]
        p = self.split_point(depth, n)
        ids = [self.bos] + f[:p] + needle + f[p:] + self.question_ids
        assert len(ids) == length
        return {"ids": ids, "key": key, "answer": self.answer(key), "needle_span": (1 + p, 1 + p + len(needle)),
                "p": p, "n": n, "offset": o}


# ------------------------------------------------------------------------------------------ MQAR
class MQAR:
    def __init__(self, spec):
        self.spec = spec
        ka, kl = spec["keys"]["alphabet"], spec["keys"]["length"]
        self.keys = ["".join(t) for t in itertools.product(ka, repeat=kl)]
        self.va, self.vl = spec["values"]["alphabet"], spec["values"]["length"]
        self.P, self.Q = spec["num_pairs"], spec["num_queries"]
        self.t = spec["templates"]

    def sample(self, rng, num_pairs=None, num_queries=None):
        P = num_pairs or self.P
        Q = num_queries or self.Q
        keys = rng.sample(self.keys, P)
        vals = ["".join(rng.choice(self.va) for _ in range(self.vl)) for _ in range(P)]
        qidx = rng.sample(range(P), Q)
        return keys, vals, qidx

    def text(self, keys, vals, qidx):
        """Returns (text, answers) with answers = list of (start, end, answer_text) char spans."""
        t = self.t
        parts = [t["prefix"]]
        for i, (k, v) in enumerate(zip(keys, vals)):
            if i:
                parts.append(t["pair_separator"])
            parts.append(t["pair"].replace("{key}", k).replace("{value}", v))
        parts.append(t["middle"])
        s = "".join(parts)
        answers = []
        for j, i in enumerate(qidx):
            if j:
                s += t["query_separator"]
            q = t["query"]
            cut = q.index("{value}")
            # ' {key}' part, then the answer ' {value}' (the space before {value} belongs to the answer)
            pre = q[:cut].replace("{key}", keys[i])
            ans_lead = ""
            if pre.endswith(" "):
                pre, ans_lead = pre[:-1], " "
            s += pre
            ans = ans_lead + q[cut:].replace("{value}", vals[i]).replace("{key}", keys[i])
            answers.append((len(s), len(s) + len(ans), ans))
            s += ans
        s += t["suffix"]
        return s, answers


# ------------------------------------------------------------------------------------------ copy
class Copy:
    def __init__(self, spec):
        self.spec = spec
        self.words = spec["words"]
        self.t = spec["templates"]

    def sample(self, rng, num_words=None):
        n = num_words or self.spec["num_words"]["eval"]
        return [rng.choice(self.words) for _ in range(n)]

    def words_text(self, words):
        return "".join(self.t["word"].replace("{word}", w) for w in words)

    def text(self, words):
        """Returns (prompt, answer): the full example is prompt + answer."""
        wt = self.words_text(words)
        return self.t["prompt"].replace("{words}", wt), self.t["answer"].replace("{words}", wt)


# ------------------------------------------------------------------------------------------ helpers
def spans_to_token_positions(offsets, spans):
    """offsets: per-token (start, end) char offsets; spans: list of (start, end, text).
    Returns, per span, the list of token indices whose start lies in [start, end), or None when the
    span does not start and end on token boundaries."""
    out = []
    for (s, e, _) in spans:
        idx = [i for i, (a, b) in enumerate(offsets) if s <= a < e]
        ok = bool(idx) and offsets[idx[0]][0] == s and offsets[idx[-1]][1] == e
        out.append(idx if ok else None)
    return out
