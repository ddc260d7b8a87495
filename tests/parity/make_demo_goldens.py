#!/usr/bin/env python3
"""Goldens for the bundled demo model (issue 3 bar: attnlab's greedy equals transformers', fp32, CPU).

Loads assets/models/attnlab-demo with transformers in float32 on the CPU (eager attention), and for a
few prompts (plain text, and a 1K passkey prompt built from the task spec's filler) records the
prompt ids, the logits of the last prompt position and a 16-token greedy continuation.

  python3 tests/parity/make_demo_goldens.py --out tests/fixtures/demo_golden.json
"""
import argparse
import json

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPTS = [
    "The old sailor looked at the sea and said",
    "In the year 1850 the President of the United States told the Congress that",
    "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse,",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="assets/models/attnlab-demo")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager").eval()
    heldout = open("assets/tasks/heldout.txt", encoding="utf-8").read()
    filler = tok(heldout[:20000], add_special_tokens=False)["input_ids"][:900]
    needle = tok("\nThe pass key is 40721. Remember it. 40721 is the pass key.\n", add_special_tokens=False)["input_ids"]
    question = tok("\nWhat is the pass key? The pass key is", add_special_tokens=False)["input_ids"]
    passkey_ids = [tok.convert_tokens_to_ids("<|begin_of_text|>")] + filler[:300] + needle + filler[300:] + question
    cases = [{"text": p, "ids": tok(p)["input_ids"]} for p in PROMPTS] + [{"text": None, "ids": passkey_ids}]
    out = {"transformers_version": transformers.__version__, "torch_version": torch.__version__, "cases": []}
    with torch.inference_mode():
        for c in cases:
            ids = torch.tensor([c["ids"]])
            logits = model(ids).logits[0, -1]
            seq, new = ids, []
            for _ in range(16):
                nxt = int(model(seq).logits[0, -1].argmax())
                new.append(nxt)
                seq = torch.cat([seq, torch.tensor([[nxt]])], 1)
            out["cases"].append({"text": c["text"], "ids": c["ids"], "greedy_new_ids": new,
                                 "last_logits_top5": torch.topk(logits, 5).indices.tolist(),
                                 "last_logits": [round(float(x), 6) for x in logits]})
            print(len(c["ids"]), new, flush=True)
    json.dump(out, open(args.out, "w"))


if __name__ == "__main__":
    main()
