#!/usr/bin/env python3
"""Train attnlab's bundled demo model (attnlab-demo) in one command on one CUDA GPU.

Stages: byte-level BPE tokenizer (tokenizers) -> LlamaForCausalLM (transformers, GQA 8q/2kv, RoPE)
trained on English text mixed with the synthetic tasks of assets/tasks/ (passkey, MQAR, copy) with a
length curriculum up to 4160 tokens -> save (bf16 safetensors) -> reload and evaluate (held-out
perplexity, passkey grid, MQAR, copy) -> head analysis with eager attention (sink mass, retrieval and
induction scores) -> metrics.json, curve.csv, MODEL_CARD.md.

Training stops by wall clock: the number of steps is fixed after a short speed calibration so that
training ends `--eval-reserve-s` before `--deadline-s` (seconds since this script started); pass
`--steps N` (the value recorded in metrics.json) to replay a run without calibration.

  python3 assets/models/recipe/train.py --smoke --out /tmp/smoke       # ~1 min, every stage, tiny
  python3 assets/models/recipe/train.py --out assets/models/attnlab-demo --deadline-s 540
"""
import argparse
import gzip
import json
import math
import os
import random
import sys
import time

T0 = time.time()
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import card  # noqa: E402
import tasks as T  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"
# Qwen2's pre-tokenizer pattern: Llama-3's, except that every digit is its own pre-token.
SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Curriculum: (end of phase as a fraction of the steps, {row length: probability}).
PHASES = [(0.08, {256: 0.5, 512: 0.5}),
          (0.25, {512: 0.3, 1024: 0.4, 2048: 0.3}),
          (1.00, {512: 0.1, 1024: 0.2, 2048: 0.3, 4160: 0.4})]
MIX = {"passkey": 0.40, "mqar": 0.20, "copy": 0.10}  # rest: plain text rows
TASK_WEIGHT = {"passkey": 1.0, "mqar": 1.0, "copy": 1.0}
TYPES = {"text": 0, "passkey": 1, "mqar": 2, "copy": 3}


class Log:
    def __init__(self, path):
        self.f = open(path, "w", encoding="utf-8") if path else None

    def __call__(self, *a):
        s = "[%6.1fs] %s" % (time.time() - T0, " ".join(str(x) for x in a))
        print(s, flush=True)
        if self.f:
            self.f.write(s + "\n")
            self.f.flush()


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=os.path.join(REPO, ".data", "corpus"))
    ap.add_argument("--tasks-dir", default=T.TASKS_DIR)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--smoke", action="store_true", help="tiny pass of every stage (about a minute)")
    ap.add_argument("--deadline-s", type=float, default=540, help="wall-clock seconds for the whole script")
    ap.add_argument("--eval-reserve-s", type=float, default=95, help="seconds kept for save + evaluation")
    ap.add_argument("--steps", type=int, default=0, help="fixed number of steps (skips calibration)")
    ap.add_argument("--tokens-per-step", type=int, default=98304)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=640)
    ap.add_argument("--rope-theta", type=float, default=100000.0)
    ap.add_argument("--max-len", type=int, default=4160, help="longest training row = max_position_embeddings")
    ap.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    ap.add_argument("--eval-only", action="store_true",
                    help="skip training: evaluate the model already in --out and rewrite metrics.json and the card")
    a = ap.parse_args()
    if a.smoke:
        a.deadline_s = min(a.deadline_s, 55)
        a.eval_reserve_s = 25
    return a


# ------------------------------------------------------------------------------------------ tokenizer
def train_tokenizer(docs, vocab_size):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(docs, trainer=trainer, length=len(docs))
    bos = tok.token_to_id(BOS)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{BOS}:0 $A:0", pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1",
                                      special_tokens=[(BOS, bos)])])
    return tok


# ------------------------------------------------------------------------------------------ rows
class Rows:
    """Builds training rows of S = L + 1 ids on the GPU (inputs = row[:-1], targets = row[1:])."""

    def __init__(self, torch, tok, specs, train_ids, dev, seed, log):
        self.torch, self.dev, self.log = torch, dev, log
        self.enc = lambda s: tok.encode(s, add_special_tokens=False).ids
        enc = self.enc
        self.bos, self.eos = tok.token_to_id(BOS), tok.token_to_id(EOS)
        self.train = train_ids
        self.N = int(train_ids.numel())
        self.g = torch.Generator(device=dev)
        self.g.manual_seed(seed)
        self.rng = random.Random(seed)
        # passkey pieces (vectorised builder): needle = A + key + B + key + C
        self.pk = T.Passkey(specs["passkey"], enc, self.bos)
        parts = self.pk.needle_t.split("{passkey}")
        assert len(parts) == 3, "needle must contain {passkey} twice"
        A, B, C = (enc(x) for x in parts)
        K = self.pk.k
        self.K = K
        self.alphabet_ids = [enc(c) for c in self.pk.alphabet]
        assert all(len(x) == 1 for x in self.alphabet_ids), "pass key characters must be single tokens"
        self.alphabet_ids = [x[0] for x in self.alphabet_ids]
        sp = enc(" ")
        assert len(sp) == 1
        self.space = sp[0]
        self.pk_needle = torch.tensor(A + [0] * K + B + [0] * K + C, device=dev)
        self.pk_s1, self.pk_s2 = len(A), len(A) + K + len(B)
        self.pk_m = len(A) + len(B) + len(C) + 2 * K
        self.pk_q = torch.tensor(self.pk.question_ids, device=dev)
        self.pk_qn = len(self.pk.question_ids)
        self.digit_ids = torch.tensor(self.alphabet_ids, device=dev)
        for _ in range(50):
            key = self.pk.sample_key(self.rng)
            kid = [self.alphabet_ids[self.pk.alphabet.index(c)] for c in key]
            assert enc(self.pk.needle_t.replace("{passkey}", key)) == A + kid + B + kid + C, "needle pieces"
            assert enc(self.pk.answer(key)) == [self.space] + kid, "answer pieces"
        # MQAR pieces
        self.mq = T.MQAR(specs["mqar"])
        t = self.mq.t
        assert t["pair"] == " {key} {value}" and t["query"] == " {key} {value}"
        self.mq_prefix, self.mq_sep, self.mq_mid, self.mq_suf = (enc(t["prefix"]), enc(t["pair_separator"]),
                                                                 enc(t["middle"]), enc(t["suffix"]))
        self.mq_qsep = enc(t["query_separator"])
        self.mq_key = {k: enc(" " + k) for k in self.mq.keys}
        self.mq_dig = {c: enc(c)[0] for c in self.mq.va}
        # copy pieces
        self.cp = T.Copy(specs["copy"])
        ct = self.cp.t
        assert ct["word"] == " {word}" and ct["answer"] == "{words}"
        pre, post = ct["prompt"].split("{words}")
        self.cp_pre, self.cp_post = enc(pre), enc(post)
        self.cp_word = {w: enc(" " + w) for w in self.cp.words}
        self.cp_min, self.cp_max = specs["copy"]["num_words"]["train_min"], specs["copy"]["num_words"]["train_max"]
        self.check_against_spec(tok)
        self.self_test(tok)

    def self_test(self, tok):
        """Structure of the vectorised rows: BOS first; passkey rows hold needle ... question answer EOS with
        the same digits in needle and answer; answer masks select exactly the answer targets."""
        torch = self.torch
        q = self.pk.question_ids
        for S in (257, 1025, 4161):
            seq, ans = self.passkey_rows(16, S)
            for r, row in enumerate(seq.tolist()):
                assert row[0] == self.bos
                i = max(k for k in range(len(row) - len(q)) if row[k:k + len(q)] == q)
                answer = row[i + len(q):i + len(q) + self.K + 1]
                assert answer[0] == self.space and row[i + len(q) + self.K + 1] == self.eos, "passkey tail"
                kid = answer[1:]
                nd = self.pk_needle.tolist()
                nd[self.pk_s1:self.pk_s1 + self.K] = kid
                nd[self.pk_s2:self.pk_s2 + self.K] = kid
                assert any(row[k:k + len(nd)] == nd for k in range(1, i - len(nd) + 1)), "needle"
                m = ans[r].nonzero().flatten().tolist()
                assert m == list(range(i + len(q), i + len(q) + self.K + 1)), "passkey answer mask"
        X, Y, A, rt = self.batch(1024, 16 * 1024)
        for r in range(X.shape[0]):
            assert int(X[r, 0]) == self.bos
            n = int(A[r].sum())
            kind = int(rt[r])
            if kind == TYPES["passkey"]:
                assert n == self.K + 1 and int(Y[r][A[r]][0]) == self.space
            elif kind == TYPES["mqar"]:
                assert n == self.mq.Q * (1 + self.mq.vl), n
            elif kind == TYPES["copy"]:
                assert n >= 2
            else:
                assert n == 0
        for kind in (0, 1, 2, 3):
            r = (rt == kind).nonzero().flatten().tolist()
            if r:
                self.log("sample row kind %d: %r" % (kind, tok.decode(X[r[0], :160].tolist(),
                                                                      skip_special_tokens=False)[:400]))
                if kind:
                    self.log("   its answer targets: %r" % tok.decode(Y[r[0]][A[r[0]]].tolist()[:40]))
        self.log("row builder self-test passed")

    def check_against_spec(self, tok):
        """The piecewise builders must give the same ids and answer positions as the spec-exact text path."""
        rng = random.Random(7)
        for _ in range(20):
            keys, vals, qidx = self.mq.sample(rng)
            ids, ans = self.mqar_ids(keys, vals, qidx)
            text, spans = self.mq.text(keys, vals, qidx)
            e = tok.encode(text, add_special_tokens=False)
            pos = T.spans_to_token_positions(e.offsets, spans)
            assert ids == [self.bos] + e.ids, "MQAR pieces differ from whole-text encoding"
            assert all(p is not None for p in pos)
            assert ans == [1 + i for p in pos for i in p], "MQAR answer positions"
            words = self.cp.sample(rng, rng.randint(self.cp_min, self.cp_max))
            ids, ans = self.copy_ids(words)
            prompt, answer = self.cp.text(words)
            e = tok.encode(prompt + answer, add_special_tokens=False)
            assert ids == [self.bos] + e.ids, "copy pieces differ from whole-text encoding"
        self.log("task builders agree with the specs' whole-text encoding")

    def mqar_ids(self, keys, vals, qidx):
        ids = [self.bos] + self.mq_prefix
        for i, (k, v) in enumerate(zip(keys, vals)):
            if i:
                ids += self.mq_sep
            ids += self.mq_key[k]
            ids.append(self.space)
            ids += [self.mq_dig[c] for c in v]
        ids += self.mq_mid
        ans = []
        for j, i in enumerate(qidx):
            if j:
                ids += self.mq_qsep
            ids += self.mq_key[keys[i]]
            ans.extend(range(len(ids), len(ids) + 1 + len(vals[i])))
            ids.append(self.space)
            ids += [self.mq_dig[c] for c in vals[i]]
        ids += self.mq_suf
        return ids, ans

    def copy_ids(self, words):
        w = [t for x in words for t in self.cp_word[x]]
        ids = [self.bos] + self.cp_pre + w + self.cp_post
        ans = list(range(len(ids), len(ids) + len(w)))
        return ids + w, ans

    # -- row kinds ---------------------------------------------------------------------------
    def text_rows(self, R, S):
        torch = self.torch
        off = torch.randint(0, self.N - S, (R,), device=self.dev, generator=self.g)
        seq = self.train[off[:, None] + torch.arange(S, device=self.dev)[None, :]]
        seq[:, 0] = self.bos
        return seq, torch.zeros_like(seq, dtype=torch.bool)

    def passkey_rows(self, R, S):
        torch, dev, g = self.torch, self.dev, self.g
        m, q, K = self.pk_m, self.pk_qn, self.K
        a = K + 1
        lo, hi = max(S // 4, m + q + 25), S - 1 - a
        Lp = torch.randint(lo, hi + 1, (R,), device=dev, generator=g)
        n = Lp - 1 - m - q
        u = torch.rand(R, device=dev, generator=g)
        d = torch.rand(R, device=dev, generator=g)
        depth = torch.where(u < 0.1, torch.zeros_like(d), torch.where(u < 0.2, torch.ones_like(d), d))
        p = torch.floor(depth * n + 0.5).long()
        dig = self.digit_ids[torch.randint(0, len(self.alphabet_ids), (R, K), device=dev, generator=g)]
        needle = self.pk_needle[None, :].repeat(R, 1)
        needle[:, self.pk_s1:self.pk_s1 + K] = dig
        needle[:, self.pk_s2:self.pk_s2 + K] = dig
        answer = torch.cat([torch.full((R, 1), self.space, device=dev, dtype=torch.long), dig], 1)
        off = torch.randint(0, self.N - S, (R,), device=dev, generator=g)
        j = torch.arange(S, device=dev)[None, :]
        P, Nn, LP = p[:, None], n[:, None], Lp[:, None]
        b1 = 1 + P
        b2 = b1 + m
        b3 = LP - q
        b4 = LP
        b5 = LP + a
        b6 = b5 + 1
        fidx = torch.where(j < b1, j - 1, torch.where(j < b3, j - 1 - m, Nn + (j - b6))).clamp(min=0)
        seq = self.train[off[:, None] + fidx]
        seq = torch.where(j == 0, torch.full_like(seq, self.bos), seq)
        seq = torch.where((j >= b1) & (j < b2), needle.gather(1, (j - b1).clamp(0, m - 1).expand(R, S)), seq)
        seq = torch.where((j >= b3) & (j < b4), self.pk_q[(j - b3).clamp(0, q - 1)], seq)
        seq = torch.where((j >= b4) & (j < b5), answer.gather(1, (j - b4).clamp(0, a - 1).expand(R, S)), seq)
        seq = torch.where(j == b5, torch.full_like(seq, self.eos), seq)
        ans = (j >= b4) & (j < b5)
        return seq, ans.expand(R, S)

    def cpu_rows(self, kind, R, S):
        torch = self.torch
        tokm = torch.full((R, S), -1, dtype=torch.long)
        ansm = torch.zeros((R, S), dtype=torch.bool)
        for r in range(R):
            if kind == "mqar":
                ids, ans = self.mqar_ids(*self.mq.sample(self.rng))
            else:
                nw = self.rng.randint(self.cp_min, self.cp_max)
                while True:
                    ids, ans = self.copy_ids(self.cp.sample(self.rng, nw))
                    if len(ids) + 1 <= S or nw <= 2:
                        break
                    nw = max(2, nw * 3 // 4)
            ids = ids[:S - 1]
            ans = [x for x in ans if x < S - 1]
            tokm[r, :len(ids)] = torch.tensor(ids)
            tokm[r, len(ids)] = self.eos
            ansm[r, ans] = True
        tokm = tokm.to(self.dev, non_blocking=True)
        ansm = ansm.to(self.dev, non_blocking=True)
        off = torch.randint(0, self.N - S, (R,), device=self.dev, generator=self.g)
        fill = self.train[off[:, None] + torch.arange(S, device=self.dev)[None, :]]
        return torch.where(tokm >= 0, tokm, fill), ansm

    def batch(self, L, tokens):
        """Returns X [R, L], Y [R, L], answer mask over targets [R, L], row types [R]."""
        torch = self.torch
        S = L + 1
        R = max(4, tokens // L)
        n_mq = int(round(MIX["mqar"] * R)) if L >= 1024 else 0
        n_cp = int(round(MIX["copy"] * R))
        n_pk = int(round(MIX["passkey"] * R)) + (int(round(MIX["mqar"] * R)) if L < 1024 else 0)
        n_tx = R - n_mq - n_cp - n_pk
        parts, types = [], []
        for kind, n in (("text", n_tx), ("passkey", n_pk), ("mqar", n_mq), ("copy", n_cp)):
            if n <= 0:
                continue
            if kind == "text":
                parts.append(self.text_rows(n, S))
            elif kind == "passkey":
                parts.append(self.passkey_rows(n, S))
            else:
                parts.append(self.cpu_rows(kind, n, S))
            types += [TYPES[kind]] * n
        seq = torch.cat([p[0] for p in parts], 0)
        ans = torch.cat([p[1] for p in parts], 0)
        rt = torch.tensor(types, device=self.dev)
        return seq[:, :-1].contiguous(), seq[:, 1:].contiguous(), ans[:, 1:].contiguous(), rt


def phase_probs(frac):
    for end, probs in PHASES:
        if frac < end:
            return probs
    return PHASES[-1][1]


def lr_at(step, total, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    t = min(1.0, (step - a.warmup) / max(1, total - a.warmup))
    return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * t)))


# ------------------------------------------------------------------------------------------ main
def main():
    a = parse()
    os.makedirs(a.out, exist_ok=True)
    log = Log(os.path.join(a.out, "log.txt"))
    log("args:", " ".join(sys.argv[1:]))
    import numpy as np
    import tokenizers
    import torch
    import torch.nn.functional as F
    import transformers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
    dev = torch.device(a.device)
    gpu = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    log("torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__,
        "gpu", gpu)
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    metrics = {"recipe": {"command": "python3 assets/models/recipe/train.py " + " ".join(sys.argv[1:]),
                          "args": vars(a), "phases": [[e, {str(k): v for k, v in p.items()}] for e, p in PHASES],
                          "mix": MIX, "task_weight": TASK_WEIGHT},
               "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                            "tokenizers": tokenizers.__version__, "gpu": gpu}}

    def dump_metrics():
        with open(os.path.join(a.out, "metrics.json"), "w", encoding="utf-8") as fh:
            json.dump(metrics, fh, indent=1, default=str)

    # ---- data
    with gzip.open(os.path.join(a.data, "train.txt.gz"), "rt", encoding="utf-8") as fh:
        docs = [d.strip() for d in fh.read().split("\n\n") if d.strip()]
    specs = {k: T.load_spec(k, a.tasks_dir) for k in ("passkey", "mqar", "copy")}
    with open(T.filler_path(specs["passkey"], a.tasks_dir), encoding="utf-8") as fh:
        held_text = fh.read()
    meta_path = os.path.join(a.data, "meta.json")
    metrics["data"] = json.load(open(meta_path, encoding="utf-8")) if os.path.exists(meta_path) else {}
    if a.smoke:
        keep, n = [], 0
        for d in docs:
            keep.append(d)
            n += len(d)
            if n > 1_500_000:
                break
        docs = keep
    log("documents", len(docs), "chars", sum(map(len, docs)), "held-out chars", len(held_text))

    # ---- tokenizer
    if a.eval_only:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(os.path.join(a.out, "tokenizer.json"))
        with open(os.path.join(a.out, "metrics.json"), encoding="utf-8") as fh:
            old = json.load(fh)
        for k in ("recipe", "model", "training", "sdpa"):
            if k in old:
                metrics[k] = old[k]
    else:
        tok = train_tokenizer(docs, a.vocab)
    V = tok.get_vocab_size()
    bos_id, eos_id = tok.token_to_id(BOS), tok.token_to_id(EOS)
    tok.save(os.path.join(a.out, "tokenizer.json"))
    with open(os.path.join(a.out, "tokenizer_config.json"), "w", encoding="utf-8") as fh:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BOS, "eos_token": EOS,
                   "pad_token": EOS, "model_max_length": a.max_len, "clean_up_tokenization_spaces": False}, fh,
                  indent=1)
    log("tokenizer: vocab", V, "bos", bos_id, "eos", eos_id)
    encs = tok.encode_batch([d + "\n\n" for d in docs], add_special_tokens=False)
    total = sum(len(e.ids) for e in encs)
    arr = np.empty(total, dtype=np.int64)
    i = 0
    for e in encs:
        arr[i:i + len(e.ids)] = e.ids
        i += len(e.ids)
    del encs
    train_ids = torch.from_numpy(arr).to(dev)
    held_ids = tok.encode(held_text, add_special_tokens=False).ids
    chars = sum(len(d) + 2 for d in docs)
    log("train tokens", total, "(%.2f chars/token)" % (chars / total), "held-out tokens", len(held_ids))
    metrics["tokenizer"] = {"vocab_size": V, "bos": BOS, "eos": EOS, "bos_id": bos_id, "eos_id": eos_id,
                            "pre_tokenizer": "Split(Qwen2 regex, isolated) + ByteLevel(add_prefix_space=False)",
                            "split_pattern": SPLIT_PATTERN, "train_tokens": total, "heldout_tokens": len(held_ids),
                            "chars_per_token": chars / total}
    dump_metrics()

    rows = Rows(torch, tok, specs, train_ids, dev, a.seed, log)
    metrics["tasks"] = {"passkey_needle_ids": rows.pk_m, "passkey_question_ids": rows.pk_qn,
                        "passkey_needle_example": tok.encode(rows.pk.needle_t.replace("{passkey}", "12345"),
                                                             add_special_tokens=False).tokens,
                        "passkey_question_tokens": tok.encode(rows.pk.question_t, add_special_tokens=False).tokens}
    if a.eval_only:
        evaluate(a, torch, F, LlamaForCausalLM, tok, rows, specs, held_ids, train_ids, metrics, dump_metrics, log)
        metrics["eval_wall_s"] = time.time() - T0
        dump_metrics()
        card.write_card(metrics, os.path.join(a.out, "MODEL_CARD.md"))
        log("eval-only done in %.0f s" % (time.time() - T0))
        return

    # ---- model
    cfg = LlamaConfig(vocab_size=V, hidden_size=a.hidden, intermediate_size=a.ffn, num_hidden_layers=a.layers,
                      num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, head_dim=a.hidden // a.heads,
                      max_position_embeddings=a.max_len, rms_norm_eps=1e-5,
                      rope_parameters={"rope_type": "default", "rope_theta": a.rope_theta},
                      tie_word_embeddings=True, bos_token_id=bos_id, eos_token_id=eos_id,
                      attention_bias=False, mlp_bias=False, initializer_range=0.02)
    try:
        model = LlamaForCausalLM._from_config(cfg, attn_implementation="sdpa")
    except Exception as ex:  # pragma: no cover
        log("note: _from_config failed (%r); plain constructor" % (ex,))
        model = LlamaForCausalLM(cfg)
    model.to(dev)
    if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
        log("note: tying lm_head to embed_tokens by hand")
        model.lm_head.weight = model.model.embed_tokens.weight
    nparams = sum(p.numel() for p in model.parameters())
    log("model params", nparams, "bf16 MiB %.2f" % (nparams * 2 / 2**20), "attn", getattr(model.config, "_attn_implementation", "?"))
    assert nparams * 2 < 15.5 * 2**20, "model too large for the 16 MiB file limit"
    metrics["model"] = {"parameters": nparams, "config": cfg.to_dict()}

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.95), eps=1e-8,
                            fused=True)

    from torch.nn.attention import SDPBackend, sdpa_kernel
    fast_backends = [SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]
    state = {"restrict": True}

    def attn_ctx():
        import contextlib
        return sdpa_kernel(fast_backends) if state["restrict"] else contextlib.nullcontext()

    def forward_loss(X, Y, A, rt):
        with attn_ctx(), torch.autocast(dev.type, dtype=torch.bfloat16):
            h = model.model(input_ids=X, use_cache=False).last_hidden_state
            logits = model.lm_head(h)
        ce = F.cross_entropy(logits.float().view(-1, V), Y.view(-1), reduction="none").view(Y.shape)
        lm = ce.mean()
        loss = lm
        parts = [lm]
        for kind in ("passkey", "mqar", "copy"):
            msk = A & (rt[:, None] == TYPES[kind])
            cnt = msk.sum()
            lt = (ce * msk).sum() / cnt.clamp(min=1)
            loss = loss + TASK_WEIGHT[kind] * lt
            parts.append(torch.where(cnt > 0, lt, torch.full_like(lt, float("nan"))))
        txm = (rt == TYPES["text"])[:, None].expand_as(ce)
        cnt = txm.sum()
        lt = (ce * txm).sum() / cnt.clamp(min=1)
        parts.append(torch.where(cnt > 0, lt, torch.full_like(lt, float("nan"))))
        return loss, parts

    # ---- make sure a fused attention kernel runs (the math fallback would not fit at 4K)
    def probe():
        X, Y, A, rt = rows.batch(256, 4096)
        loss, _ = forward_loss(X, Y, A, rt)
        loss.backward()
        opt.zero_grad(set_to_none=True)
    try:
        probe()
    except RuntimeError as ex:
        log("WARNING: fused SDPA with enable_gqa failed (%s); repeating KV heads instead" % str(ex)[:300])
        import transformers.integrations.sdpa_attention as hf_sdpa
        hf_sdpa.use_gqa_in_sdpa = lambda *args, **kw: False
        try:
            probe()
        except RuntimeError as ex2:
            log("WARNING: restricted SDPA backends failed (%s); PyTorch's default choice" % str(ex2)[:300])
            state["restrict"] = False
            probe()
    metrics["sdpa"] = {"restricted_to_fused": state["restrict"]}

    # ---- fixed validation batches (held-out)
    vrng = random.Random(a.seed + 1)
    vwin = 1024
    vx = torch.tensor([[bos_id] + held_ids[o:o + vwin - 1] for o in
                       [vrng.randint(0, len(held_ids) - vwin) for _ in range(8)]], device=dev)
    pk_task = T.Passkey(specs["passkey"], rows.enc, bos_id)
    vpk = [pk_task.build(held_ids, 1024 if a.smoke else 4096, d, vrng) for d in [i / 23 for i in range(24)]]
    vpk_ids = torch.tensor([r["ids"] + rows.enc(r["answer"]) for r in vpk], device=dev)
    npk_ans = len(rows.enc(vpk[0]["answer"]))

    @torch.no_grad()
    def validate():
        model.eval()
        with attn_ctx(), torch.autocast(dev.type, dtype=torch.bfloat16):
            lg = model(input_ids=vx).logits.float()
            vl = F.cross_entropy(lg[:, :-1].reshape(-1, V), vx[:, 1:].reshape(-1)).item()
            correct = 0
            for b in range(0, len(vpk_ids), 8):
                x = vpk_ids[b:b + 8]
                lg = model(input_ids=x).logits
                pred = lg[:, -npk_ans - 1:-1].argmax(-1)
                correct += (pred == x[:, -npk_ans:]).all(1).sum().item()
        model.train()
        return vl, correct / len(vpk_ids)

    # ---- calibration: seconds per step for each row length
    buckets = sorted({L for _, p in PHASES for L in p})
    model.train()

    def train_step(L, lr):
        X, Y, A, rt = rows.batch(L, a.tokens_per_step)
        for gr in opt.param_groups:
            gr["lr"] = lr
        loss, parts = forward_loss(X, Y, A, rt)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss, parts, gn, X.shape

    sec = {}
    if a.steps:
        total_steps = a.steps
    else:
        for L in buckets:
            X, Y, A, rt = rows.batch(L, a.tokens_per_step)
            for rep in range(4):
                if rep == 1:
                    sync()
                    t = time.time()
                loss, _ = forward_loss(X, Y, A, rt)
                loss.backward()
            sync()
            sec[L] = (time.time() - t) / 3 * 1.08  # + optimizer step and batch building
            opt.zero_grad(set_to_none=True)
        per_step = 0.0
        start = 0.0
        for end, probs in PHASES:
            per_step += (end - start) * sum(w * sec[L] for L, w in probs.items())
            start = end
        budget = a.deadline_s - (time.time() - T0) - a.eval_reserve_s
        total_steps = max(20, int(budget / per_step))
        log("calibration s/step:", {k: round(v, 4) for k, v in sec.items()}, "-> mean %.4f s, budget %.0f s, %d steps"
            % (per_step, budget, total_steps))
    train_deadline = T0 + a.deadline_s - a.eval_reserve_s + (10 if not a.steps else 1e9)
    metrics["training"] = {"total_steps_planned": total_steps, "calibration_s_per_step": {str(k): v for k, v in
                                                                                         sec.items()}}
    # reseed the row generators so that a replay with --steps gives the same batches
    rows.g.manual_seed(a.seed)
    rows.rng = random.Random(a.seed)
    srng = random.Random(a.seed + 2)

    # ---- training loop
    curve_f = open(os.path.join(a.out, "curve.csv"), "w", encoding="utf-8")
    cols = ["step", "elapsed_s", "tokens", "seq_len", "lr", "loss", "loss_all_tokens", "loss_passkey_answer",
            "loss_mqar_answer", "loss_copy_answer", "loss_text_rows", "grad_norm", "val_loss_heldout",
            "val_passkey4k_acc"]
    curve_f.write(",".join(cols) + "\n")
    log_every = 25
    val_every = max(50, total_steps // 12)
    tokens_seen = 0
    t_train = time.time()
    pending = []
    step = 0
    stopped_early = False
    for step in range(total_steps):
        if time.time() > train_deadline:
            stopped_early = True
            log("stopping by wall clock at step", step, "of", total_steps)
            break
        probs = phase_probs(step / total_steps)
        L = srng.choices(list(probs), weights=list(probs.values()))[0]
        lr = lr_at(step, total_steps, a)
        loss, parts, gn, shape = train_step(L, lr)
        tokens_seen += shape[0] * shape[1]
        is_val = step % val_every == 0 or step == total_steps - 1
        if step % log_every == 0 or is_val:
            pending.append((step, time.time() - t_train, tokens_seen, L, lr,
                            torch.stack([loss.detach()] + [p_.detach() for p_ in parts] + [gn.detach().float()])))
        if is_val:
            vl, vacc = validate()
            for (s_, el, tk, L_, lr_, vals) in pending:
                v = vals.float().tolist()
                row = [s_, "%.1f" % el, tk, L_, "%.3e" % lr_] + ["%.4f" % x for x in v]
                row += (["%.4f" % vl, "%.3f" % vacc] if s_ == step else ["", ""])
                curve_f.write(",".join(str(x) for x in row) + "\n")
            curve_f.flush()
            last = pending[-1][5].float().tolist() if pending else []
            pending = []
            log("step %d/%d L=%d lr=%.2e loss %s | held-out loss %.3f passkey@4k(tf) %.2f | %.0fk tok/s" % (
                step, total_steps, L, lr, " ".join("%.3f" % x for x in last[:7]), vl, vacc,
                tokens_seen / (time.time() - t_train) / 1e3))
    for (s_, el, tk, L_, lr_, vals) in pending:
        v = vals.float().tolist()
        curve_f.write(",".join(str(x) for x in [s_, "%.1f" % el, tk, L_, "%.3e" % lr_] + ["%.4f" % x for x in v]
                               + ["", ""]) + "\n")
    curve_f.close()
    train_s = time.time() - t_train
    metrics["training"].update({"steps": step + (0 if stopped_early else 1), "stopped_by_wall_clock": stopped_early,
                                "tokens": tokens_seen, "seconds": train_s, "tokens_per_s": tokens_seen / train_s,
                                "tokens_per_step": a.tokens_per_step,
                                "epochs_of_text_equiv": tokens_seen / total})
    log("trained %d steps, %.1fM tokens in %.0f s" % (metrics["training"]["steps"], tokens_seen / 1e6, train_s))

    # ---- save (bf16 safetensors)
    model.eval()
    model.to(torch.bfloat16)
    model.generation_config = GenerationConfig(bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=eos_id,
                                               do_sample=False, max_new_tokens=64)
    try:
        model.save_pretrained(a.out, safe_serialization=True)
    except TypeError:
        model.save_pretrained(a.out)
    if not os.path.exists(os.path.join(a.out, "generation_config.json")):
        model.generation_config.save_pretrained(a.out)
    size = os.path.getsize(os.path.join(a.out, "model.safetensors"))
    metrics["model"]["safetensors_bytes"] = size
    log("saved", sorted(os.listdir(a.out)), "model.safetensors %.2f MiB" % (size / 2**20))
    dump_metrics()
    del model, opt
    empty_cache(torch)

    evaluate(a, torch, F, LlamaForCausalLM, tok, rows, specs, held_ids, train_ids, metrics, dump_metrics, log)
    metrics["wall_s"] = time.time() - T0
    dump_metrics()
    card.write_card(metrics, os.path.join(a.out, "MODEL_CARD.md"))
    log("done in %.0f s; files: %s" % (time.time() - T0, sorted(os.listdir(a.out))))


# ------------------------------------------------------------------------------------------ evaluation
def evaluate(a, torch, F, LlamaForCausalLM, tok, rows, specs, held_ids, train_ids, metrics, dump_metrics, log):
    dev = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    bos_id, eos_id = rows.bos, rows.eos
    enc = rows.enc
    m = LlamaForCausalLM.from_pretrained(a.out, dtype=torch.float32, attn_implementation="sdpa").to(dev).eval()
    V = m.config.vocab_size
    ev = {}
    metrics["eval"] = ev
    erng = random.Random(a.seed + 1000)

    def last_logits(model, x, **kw):
        try:
            out = model(input_ids=x, logits_to_keep=1, **kw)
        except TypeError:
            out = model(input_ids=x, **kw)
        if kw.get("output_attentions") and getattr(out, "attentions", None) is None:
            model.config.output_attentions = True
            out = model(input_ids=x, **kw)
        return out.logits[:, -1].float(), out

    def with_attn(model, x):
        out = model(input_ids=x, output_attentions=True)
        if getattr(out, "attentions", None) is None:
            model.config.output_attentions = True
            out = model(input_ids=x, output_attentions=True)
        return out

    # perplexity
    with torch.no_grad():
        def ppl(ids, win, limit):
            xs = [[bos_id] + ids[o:o + win - 1] for o in range(0, len(ids) - win + 1, win - 1)][:limit]
            nll, cnt = 0.0, 0
            for b in range(0, len(xs), 8):
                x = torch.tensor(xs[b:b + 8], device=dev)
                lg = m(input_ids=x).logits.float()
                nll += F.cross_entropy(lg[:, :-1].reshape(-1, V), x[:, 1:].reshape(-1), reduction="sum").item()
                cnt += x[:, 1:].numel()
            return math.exp(nll / cnt), cnt
        lim = 4 if a.smoke else 10_000
        p1, c1 = ppl(held_ids, 1024, lim)
        p4, c4 = ppl(held_ids, 4096, lim)
        tr = train_ids[: 64 * 1024].tolist()
        pt, ct = ppl(tr, 1024, 4 if a.smoke else 64)
    ev["perplexity"] = {"heldout_ctx1024": p1, "heldout_ctx1024_tokens": c1, "heldout_ctx4096": p4,
                        "heldout_ctx4096_tokens": c4, "train_sample_ctx1024": pt, "train_sample_tokens": ct}
    log("perplexity held-out @1024 %.2f @4096 %.2f | train sample @1024 %.2f" % (p1, p4, pt))
    dump_metrics()

    # passkey grid (greedy, full attention)
    pk = T.Passkey(specs["passkey"], enc, bos_id)
    es = specs["passkey"]["eval"]
    lengths, depths, trials = es["lengths"], es["depths"], es["trials"]
    max_new = specs["passkey"]["scoring"]["max_new_tokens"]
    if a.smoke:
        lengths, depths, trials = [512, 4096], [0, 1], 2

    def greedy(model, x, steps):
        outs = []
        with torch.no_grad():
            for _ in range(steps):
                lg, _ = last_logits(model, x)
                nxt = lg.argmax(-1)
                outs.append(nxt)
                x = torch.cat([x, nxt[:, None]], 1)
        return torch.stack(outs, 1).tolist()

    def decode_until_eos(ids):
        if eos_id in ids:
            ids = ids[:ids.index(eos_id)]
        return tok.decode(ids, skip_special_tokens=True)

    grid, fails = {}, []
    for L in lengths:
        for d in depths:
            items = [pk.build(held_ids, L, d, erng) for _ in range(trials)]
            x = torch.tensor([it["ids"] for it in items], device=dev)
            gen = greedy(m, x, max_new)
            ok = 0
            for it, g in zip(items, gen):
                txt = decode_until_eos(g)
                if txt.startswith(it["answer"]):
                    ok += 1
                elif len(fails) < 12:
                    fails.append({"length": L, "depth": d, "expected": it["answer"], "got": txt})
            grid["%d/%g" % (L, d)] = ok / trials
    ev["passkey"] = {"lengths": lengths, "depths": depths, "trials": trials, "accuracy": grid, "failures": fails,
                     "mean": sum(grid.values()) / len(grid)}
    log("passkey:", " ".join("%s=%.2f" % kv for kv in grid.items()))
    dump_metrics()

    # MQAR (teacher forced) and copy
    def tf_eval(examples):
        """examples: list of (ids, [answer token position lists]); returns per-item correctness lists."""
        res = []
        with torch.no_grad():
            for b in range(0, len(examples), 16):
                chunk = examples[b:b + 16]
                T_ = max(len(e[0]) for e in chunk)
                x = torch.tensor([e[0] + [eos_id] * (T_ - len(e[0])) for e in chunk], device=dev)
                pred = m(input_ids=x).logits.argmax(-1).tolist()
                for e, pr in zip(chunk, pred):
                    res.append([all(pr[i - 1] == e[0][i] for i in pos) if pos else False for pos in e[1]])
        return res

    mq = T.MQAR(specs["mqar"])
    nmq = 16 if a.smoke else specs["mqar"]["eval"]["examples"]
    exs = []
    for _ in range(nmq):
        text, spans = mq.text(*mq.sample(erng))
        e = tok.encode(text, add_special_tokens=False)
        pos = T.spans_to_token_positions(e.offsets, spans)
        exs.append(([bos_id] + e.ids, [[1 + i for i in p] if p is not None else [] for p in pos]))
    r = tf_eval(exs)
    flat = [c for x in r for c in x]
    ev["mqar"] = {"num_pairs": mq.P, "num_queries": mq.Q, "examples": nmq, "accuracy": sum(flat) / len(flat),
                  "example_all_correct": sum(all(x) for x in r) / len(r),
                  "prompt_tokens_mean": sum(len(e[0]) for e in exs) / len(exs)}
    cp = T.Copy(specs["copy"])
    ncp = 16 if a.smoke else specs["copy"]["eval"]["examples"]
    nw = specs["copy"]["eval"]["num_words"]
    exs = []
    for _ in range(ncp):
        prompt, answer = cp.text(cp.sample(erng, nw))
        text = prompt + answer
        e = tok.encode(text, add_special_tokens=False)
        pos = T.spans_to_token_positions(e.offsets, [(len(prompt), len(text), answer)])
        exs.append(([bos_id] + e.ids, [[1 + i for i in pos[0]] if pos[0] is not None else []]))
    r = tf_eval(exs)
    ev["copy"] = {"num_words": nw, "examples": ncp, "exact_match": sum(x[0] for x in r) / len(r)}
    log("MQAR acc %.3f (all-correct examples %.3f) | copy exact %.3f" % (
        ev["mqar"]["accuracy"], ev["mqar"]["example_all_correct"], ev["copy"]["exact_match"]))
    dump_metrics()
    del m
    empty_cache(torch)

    # ---- head analysis with eager attention
    me = LlamaForCausalLM.from_pretrained(a.out, dtype=torch.float32, attn_implementation="eager").to(dev).eval()
    nl, nh = me.config.num_hidden_layers, me.config.num_attention_heads
    heads = {}
    with torch.no_grad():
        # sink mass: attention of queries 16.. to token 0 (BOS) on held-out text
        win = 1024
        xs = [[bos_id] + held_ids[o:o + win - 1] for o in [erng.randint(0, len(held_ids) - win) for _ in range(4)]]
        x = torch.tensor(xs, device=dev)
        out = with_attn(me, x)
        sink = [[float(v) for v in att[:, :, 16:, 0].mean(dim=(0, 2))] for att in out.attentions]
        # attention entropy-free summary: mass on the most recent 16 keys ("local" heads)
        local = []
        for att in out.attentions:
            Tn = att.shape[-1]
            idx = torch.arange(Tn, device=dev)
            band = (idx[None, :] <= idx[:, None]) & (idx[None, :] > idx[:, None] - 16)
            local.append([float(v) for v in (att[:, :, 16:, :] * band[16:][None, None]).sum(-1).mean(dim=(0, 2))])
        del out
        heads["sink_mass"] = sink
        heads["local16_mass"] = local
        # echo / induction scores (RazorAttention probe): random tokens repeated 4 times
        period = 200
        g = torch.Generator().manual_seed(a.seed + 3)
        rnd = torch.randint(2, V, (4, period), generator=g)
        x = torch.cat([torch.full((4, 1), bos_id), rnd.repeat(1, 4)], 1).to(dev)
        out = with_attn(me, x)
        q = torch.arange(1 + period, 1 + 4 * period, device=dev)
        ind, echo = [], []
        for att in out.attentions:
            e_sum = torch.zeros(att.shape[:2], device=dev)
            i_sum = torch.zeros(att.shape[:2], device=dev)
            for k in (1, 2, 3):
                valid = q - k * period >= 1
                qq = q[valid]
                e_sum += att[:, :, qq, qq - k * period].sum(-1) / len(q)
                i_sum += att[:, :, qq, qq - k * period + 1].sum(-1) / len(q)
            echo.append([float(v) for v in e_sum.mean(0)])
            ind.append([float(v) for v in i_sum.mean(0)])
        del out
        heads["echo"] = echo
        heads["induction"] = ind
        # retrieval score (Retrieval_Head, strategies.md §20) on passkey prompts
        r_lengths = [1024] if a.smoke else [1024, 4096]
        r_depths = [0.1, 0.5, 0.9] if a.smoke else [0.1, 0.3, 0.5, 0.7, 0.9]
        r_trials = 1 if a.smoke else 2
        digit_set = set(rows.alphabet_ids)
        score = torch.zeros(nl, nh)
        mass = torch.zeros(nl, nh)
        counted = 0
        tried = 0
        for L in r_lengths:
            items = [pk.build(held_ids, L, d, erng) for d in r_depths for _ in range(r_trials)]
            for b in range(0, len(items), 5):
                chunk = items[b:b + 5]
                x = torch.tensor([it["ids"] for it in chunk], device=dev)
                B = len(chunk)
                dpos = []
                for it in chunk:
                    s, e = it["needle_span"]
                    dpos.append([i for i in range(s, e) if it["ids"][i] in digit_set])
                dmask = torch.zeros(B, x.shape[1] + pk.k + 2, dtype=torch.bool, device=dev)
                for bi, ps in enumerate(dpos):
                    dmask[bi, ps] = True
                sc = torch.zeros(B, nl, nh, device=dev)
                ms = torch.zeros(B, nl, nh, device=dev)
                gen = []
                for t in range(pk.k + 1):
                    lg, out = last_logits(me, x, output_attentions=True)
                    nxt = lg.argmax(-1)
                    gen.append(nxt)
                    Tn = x.shape[1]
                    att = torch.stack([at[:, :, -1, :] for at in out.attentions], 1)  # [B, nl, nh, Tn]
                    del out
                    top = att.argmax(-1)  # [B, nl, nh]
                    in_needle = dmask[:, :Tn].gather(1, top.view(B, -1)).view(B, nl, nh)
                    same = x.gather(1, top.view(B, -1)).view(B, nl, nh) == nxt[:, None, None]
                    if t >= 1:
                        sc += (in_needle & same).float() / pk.k
                        ms += (att * dmask[:, None, None, :Tn]).sum(-1) / pk.k
                    x = torch.cat([x, nxt[:, None]], 1)
                gen = torch.stack(gen, 1).tolist()
                for bi, it in enumerate(chunk):
                    tried += 1
                    if decode_until_eos(gen[bi]).startswith(it["answer"]):
                        counted += 1
                        score += sc[bi].cpu()
                        mass += ms[bi].cpu()
        heads["retrieval_score"] = (score / max(1, counted)).tolist()
        heads["needle_attention_mass"] = (mass / max(1, counted)).tolist()
        heads["retrieval_trials"] = {"counted": counted, "tried": tried, "lengths": r_lengths, "depths": r_depths}
    del me
    empty_cache(torch)

    def top(mat, k=6):
        flat = [(mat[l][h], l, h) for l in range(nl) for h in range(nh)]
        flat.sort(reverse=True)
        return [{"layer": l, "head": h, "kv_head": h // (nh // rows_kv(metrics)), "score": round(v, 4)}
                for v, l, h in flat[:k]]

    heads["sink_heads"] = [{"layer": l, "head": h, "mass": round(heads["sink_mass"][l][h], 3)}
                           for l in range(nl) for h in range(nh) if heads["sink_mass"][l][h] > 0.5]
    heads["retrieval_heads"] = [{"layer": l, "head": h, "score": round(heads["retrieval_score"][l][h], 3)}
                                for l in range(nl) for h in range(nh) if heads["retrieval_score"][l][h] > 0.1]
    heads["top_retrieval"] = top(heads["retrieval_score"])
    heads["top_induction"] = top(heads["induction"])
    heads["top_sink"] = top(heads["sink_mass"])
    ev["heads"] = heads
    log("sink heads (mass>0.5):", len(heads["sink_heads"]), "| retrieval heads (score>0.1):",
        [(x["layer"], x["head"], x["score"]) for x in heads["retrieval_heads"]],
        "| top induction:", [(x["layer"], x["head"], x["score"]) for x in heads["top_induction"][:4]])
    dump_metrics()


def sync():
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def empty_cache(torch):
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def rows_kv(metrics):
    return metrics["model"]["config"]["num_key_value_heads"]


if __name__ == "__main__":
    main()
