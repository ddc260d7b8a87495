#!/usr/bin/env python3
"""Minimal fp32 reference for attnlab-demo without transformers or tokenizers: a byte-level BPE encoder
that reads tokenizer.json and a plain-PyTorch Llama forward that reads config.json + model.safetensors
and can return every attention map. Needs only `torch` (any version >= 1.13, CPU is fine) and, to
encode text, the `regex` package (Debian: python3-torch python3-regex).

It is an independent cross-check of the checkpoint (its held-out perplexity must match metrics.json)
and the CPU engine for head probes:

  python3 assets/models/recipe/reference.py assets/models/attnlab-demo --check
"""
import json
import math
import os
import struct
import sys


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class RefTokenizer:
    def __init__(self, path):
        import regex
        t = json.load(open(path, encoding="utf-8"))
        m = t["model"]
        self.vocab = m["vocab"]
        self.inv = {i: s for s, i in self.vocab.items()}
        merges = [tuple(x.split(" ", 1)) if isinstance(x, str) else tuple(x) for x in m["merges"]]
        self.ranks = {p: i for i, p in enumerate(merges)}
        pre = t["pre_tokenizer"]
        split = [p for p in pre.get("pretokenizers", [pre]) if p["type"] == "Split"][0]
        self.pat = regex.compile(split["pattern"]["Regex"])
        self.special = {a["content"]: a["id"] for a in t["added_tokens"]}
        for a in t["added_tokens"]:
            self.inv[a["id"]] = a["content"]
        self.bos = self.special.get("<|begin_of_text|>")
        self.b2u = bytes_to_unicode()
        self.u2b = {v: k for k, v in self.b2u.items()}
        self.cache = {}

    def _bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        while len(parts) > 1:
            best, bi = None, -1
            for i in range(len(parts) - 1):
                r = self.ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            parts[bi:bi + 2] = [parts[bi] + parts[bi + 1]]
        self.cache[word] = parts
        return parts

    def encode(self, text, add_bos=True):
        ids = [self.bos] if add_bos else []
        for mt in self.pat.finditer(text):
            w = "".join(self.b2u[b] for b in mt.group().encode("utf-8"))
            ids.extend(self.vocab[p] for p in self._bpe(w))
        return ids

    def decode(self, ids, skip_special=True):
        out = bytearray()
        for i in ids:
            s = self.inv[i]
            if i in self.special.values():
                if not skip_special:
                    out += s.encode("utf-8")
                continue
            out += bytes(self.u2b[c] for c in s)
        return out.decode("utf-8", errors="replace")


def load_safetensors(path, torch):
    with open(path, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        header = json.loads(fh.read(n))
        data = fh.read()
    dt = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        t = torch.frombuffer(bytearray(data[s:e]), dtype=dt[v["dtype"]]).reshape(v["shape"])
        out[k] = t.float()
    return out


class RefLlama:
    def __init__(self, model_dir):
        import torch
        self.torch = torch
        c = json.load(open(os.path.join(model_dir, "config.json"), encoding="utf-8"))
        self.c = c
        W = load_safetensors(os.path.join(model_dir, "model.safetensors"), torch)
        self.W = W
        self.L, self.H, self.Hk = c["num_hidden_layers"], c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = c.get("head_dim") or c["hidden_size"] // self.H
        self.eps = c["rms_norm_eps"]
        theta = (c.get("rope_parameters") or {}).get("rope_theta", c.get("rope_theta", 10000.0))
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        self.emb = W["model.embed_tokens.weight"]
        self.lm = W.get("lm_head.weight", self.emb)

    def _norm(self, x, w):
        return w * (x * self.torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def forward(self, ids, attentions=False, last_only=False):
        """ids: LongTensor [B, T]. Returns (logits [B, T or 1, V], list of [B, H, T, T] attention maps or None)."""
        torch = self.torch
        B, T = ids.shape
        x = self.emb[ids]
        f = torch.outer(torch.arange(T, dtype=torch.float32), self.inv_freq)
        e = torch.cat([f, f], -1)
        cos, sin = e.cos(), e.sin()

        def rope(t):
            h = t.shape[-1] // 2
            return t * cos + torch.cat([-t[..., h:], t[..., :h]], -1) * sin

        mask = torch.full((T, T), float("-inf")).triu(1)
        maps = []
        for i in range(self.L):
            p = "model.layers.%d." % i
            h = self._norm(x, self.W[p + "input_layernorm.weight"])
            q = (h @ self.W[p + "self_attn.q_proj.weight"].T).view(B, T, self.H, self.hd).transpose(1, 2)
            k = (h @ self.W[p + "self_attn.k_proj.weight"].T).view(B, T, self.Hk, self.hd).transpose(1, 2)
            v = (h @ self.W[p + "self_attn.v_proj.weight"].T).view(B, T, self.Hk, self.hd).transpose(1, 2)
            q, k = rope(q), rope(k)
            rep = self.H // self.Hk
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            a = ((q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask).softmax(-1)
            if attentions:
                maps.append(a)
            o = (a @ v).transpose(1, 2).reshape(B, T, self.H * self.hd)
            x = x + o @ self.W[p + "self_attn.o_proj.weight"].T
            h = self._norm(x, self.W[p + "post_attention_layernorm.weight"])
            g = h @ self.W[p + "mlp.gate_proj.weight"].T
            u = h @ self.W[p + "mlp.up_proj.weight"].T
            x = x + (torch.nn.functional.silu(g) * u) @ self.W[p + "mlp.down_proj.weight"].T
        x = self._norm(x, self.W["model.norm.weight"])
        if last_only:
            x = x[:, -1:]
        return x @ self.lm.T, (maps if attentions else None)

    def greedy(self, ids, steps, eos=None):
        torch = self.torch
        x = torch.tensor([ids])
        out = []
        with torch.no_grad():
            for _ in range(steps):
                nxt = int(self.forward(x, last_only=True)[0][0, -1].argmax())
                out.append(nxt)
                if nxt == eos:
                    break
                x = torch.cat([x, torch.tensor([[nxt]])], 1)
        return out


def heldout_perplexity(model, tok, text, win=1024, limit=None):
    torch = model.torch
    ids = tok.encode(text, add_bos=False)
    xs = [[tok.bos] + ids[o:o + win - 1] for o in range(0, len(ids) - win + 1, win - 1)][:limit]
    nll, cnt = 0.0, 0
    with torch.no_grad():
        for b in range(0, len(xs), 4):
            x = torch.tensor(xs[b:b + 4])
            lg = model.forward(x)[0]
            nll += torch.nn.functional.cross_entropy(lg[:, :-1].reshape(-1, lg.shape[-1]), x[:, 1:].reshape(-1),
                                                     reduction="sum").item()
            cnt += x[:, 1:].numel()
    return math.exp(nll / cnt), cnt


def probe_heads(model, tok, text, seed=5):
    """Extra head probes on in-distribution tokens (fp32, CPU). Returns a dict of [layer][head] tables."""
    import collections
    import random
    torch = model.torch
    rng = random.Random(seed)
    ids = tok.encode(text, add_bos=False)
    res = {}
    with torch.no_grad():
        # induction / echo: 200 distinct tokens drawn from the 2000 most frequent held-out tokens, repeated 4 times
        period, reps = 200, 4
        freq = [t for t, _ in collections.Counter(ids).most_common(2000)]
        seqs = [[tok.bos] + rng.sample(freq, period) * reps for _ in range(2)]
        x = torch.tensor(seqs)
        maps = model.forward(x, attentions=True)[1]
        q = torch.arange(1 + period, 1 + reps * period)
        ind, echo = [], []
        for a in maps:
            e_sum = torch.zeros(a.shape[:2])
            i_sum = torch.zeros(a.shape[:2])
            for k in range(1, reps):
                qq = q[q - k * period >= 1]
                e_sum += a[:, :, qq, qq - k * period].sum(-1) / len(q)
                i_sum += a[:, :, qq, qq - k * period + 1].sum(-1) / len(q)
            ind.append([round(float(v), 4) for v in i_sum.mean(0)])
            echo.append([round(float(v), 4) for v in e_sum.mean(0)])
        res["induction_frequent_tokens"] = ind
        res["echo_frequent_tokens"] = echo
        # the same with a list of 100 random words of the copy spec, repeated 3 times, no instruction
        words = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tasks",
                                            "copy.json"), encoding="utf-8"))["words"]
        one = tok.encode("".join(" " + rng.choice(words) for _ in range(100)), add_bos=False)
        P = len(one)
        x = torch.tensor([[tok.bos] + one * 3])
        lg, maps = model.forward(x, attentions=True)
        q = torch.arange(1 + P, 3 * P)
        res["repeated_words_next_token_accuracy"] = round(float((lg[0].argmax(-1)[q] == x[0, q + 1]).float().mean()), 4)
        res["induction_repeated_words"] = [[round(float(v), 4) for v in a[0][:, q, q - P + 1].mean(-1)] for a in maps]
        # copy task (spec format): attention from the position that predicts answer token i to its source token
        acc = []
        for _ in range(4):
            ws = [rng.choice(words) for _ in range(48)]
            wt = "".join(" " + w for w in ws)
            prompt = "Words:" + wt + "\nRepeat:"
            pids = tok.encode(prompt)
            cids = pids + tok.encode(wt, add_bos=False)
            src0 = len(tok.encode("Words:"))
            x = torch.tensor([cids])
            lg, maps = model.forward(x, attentions=True)
            q = torch.arange(len(pids) - 1, len(cids) - 1)
            acc.append([[float(v) for v in a[0][:, q, q + 1 - len(pids) + src0].mean(-1)] for a in maps])
        res["copy_task_source_attention"] = [[round(sum(e[l][h] for e in acc) / len(acc), 4) for h in range(model.H)]
                                             for l in range(model.L)]
        # previous-token and sink mass on one held-out window of 1024 and one of 4096 tokens
        for win in (1024, 4096):
            o = rng.randint(0, len(ids) - win)
            x = torch.tensor([[tok.bos] + ids[o:o + win - 1]])
            maps = model.forward(x, attentions=True)[1]
            res["sink_mass_text%d" % win] = [[round(float(v), 4) for v in a[0, :, 16:, 0].mean(-1)] for a in maps]
            if win == 1024:
                t_ = torch.arange(16, win)
                res["previous_token_text1024"] = [[round(float(v), 4) for v in a[0][:, t_, t_ - 1].mean(-1)]
                                                  for a in maps]
            del maps
    return res


def main():
    d = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import tasks as T
    tok = RefTokenizer(os.path.join(d, "tokenizer.json"))
    model = RefLlama(d)
    if "--probe" in sys.argv:
        text = open(os.path.join(T.TASKS_DIR, "heldout.txt"), encoding="utf-8").read()
        res = probe_heads(model, tok, text)
        mp = os.path.join(d, "metrics.json")
        m = json.load(open(mp, encoding="utf-8"))
        res["how"] = ("assets/models/recipe/reference.py --probe: fp32 CPU reference forward (same weights; its "
                      "held-out perplexity matches the transformers evaluation)")
        m.setdefault("eval", {})["heads_probe"] = res
        with open(mp, "w", encoding="utf-8") as fh:
            json.dump(m, fh, indent=1)
        for k, v in res.items():
            if not isinstance(v, list):
                print(k, v)
            else:
                print(k)
                for l, row in enumerate(v):
                    print("  L%d " % l + " ".join("%.3f" % x for x in row))
    if "--check" in sys.argv:
        text = open(os.path.join(T.TASKS_DIR, "heldout.txt"), encoding="utf-8").read()
        ppl, n = heldout_perplexity(model, tok, text, 1024, limit=None if "--full" in sys.argv else 16)
        print("held-out perplexity @1024 over %d tokens: %.3f" % (n, ppl))
        m = json.load(open(os.path.join(d, "metrics.json"), encoding="utf-8"))
        print("metrics.json (all %d tokens): %.3f" % (m["eval"]["perplexity"]["heldout_ctx1024_tokens"],
                                                      m["eval"]["perplexity"]["heldout_ctx1024"]))
        import random
        pk = T.Passkey(T.load_spec("passkey"), lambda s: tok.encode(s, add_bos=False), tok.bos)
        filler = tok.encode(text, add_bos=False)
        r = pk.build(filler, 1024, 0.5, random.Random(0))
        out = tok.decode(model.greedy(r["ids"], 8, eos=tok.special.get("<|end_of_text|>")))
        print("passkey 1024/0.5: expected %r got %r" % (r["answer"], out))


if __name__ == "__main__":
    main()
