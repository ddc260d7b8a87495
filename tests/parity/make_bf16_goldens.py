#!/usr/bin/env python3
"""bf16 goldens for the CUDA parity test (issue 2), made with transformers on the GPU machine.

For every family under tests/fixtures/parity/ this loads the fixture checkpoint in bf16 on CUDA,
records the logits of each golden prompt and an 8-token greedy continuation (argmax loop), and
how often transformers' own bf16 argmax agrees with its fp32 golden (the random tiny models have
close top logits, so bf16 rounding alone flips some). Writes golden_bf16.json and
golden_bf16.safetensors beside golden.json.

  python3 tests/parity/make_bf16_goldens.py [--root tests/fixtures/parity]
"""
import argparse
import json
import os

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="tests/fixtures/parity")
    ap.add_argument("--new-tokens", type=int, default=8)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    for family in sorted(os.listdir(args.root)):
        d = os.path.join(args.root, family)
        if not os.path.isfile(os.path.join(d, "golden.json")):
            continue
        golden = json.load(open(os.path.join(d, "golden.json")))
        fp32 = load_file(os.path.join(d, "golden.safetensors"))
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.bfloat16, attn_implementation="eager").cuda().eval()
        out = {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
               "device": torch.cuda.get_device_name(0), "attn_implementation": "eager", "prompts": []}
        tensors = {}
        agree = total = 0
        with torch.inference_mode():
            for i, p in enumerate(golden["prompts"]):
                ids = torch.tensor([p["ids"]], device="cuda")
                logits = model(ids).logits[0].float().cpu()
                tensors[f"logits.{i}"] = logits.contiguous()
                ref = fp32[f"logits.{i}"]
                agree += int((logits.argmax(-1) == ref.argmax(-1)).sum())
                total += logits.shape[0]
                seq = ids
                new = []
                for _ in range(args.new_tokens):
                    nxt = model(seq).logits[0, -1].float().argmax().item()
                    new.append(nxt)
                    seq = torch.cat([seq, torch.tensor([[nxt]], device="cuda")], 1)
                out["prompts"].append({"ids": p["ids"], "greedy_new_ids": new})
        out["hf_bf16_vs_fp32_argmax_agreement"] = agree / total
        save_file(tensors, os.path.join(d, "golden_bf16.safetensors"))
        json.dump(out, open(os.path.join(d, "golden_bf16.json"), "w"), indent=1)
        print(f"{family}: transformers bf16 vs fp32 argmax agreement {agree / total:.4f} over {total} positions",
              flush=True)


if __name__ == "__main__":
    main()
