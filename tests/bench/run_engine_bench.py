#!/usr/bin/env python3
"""Engine benchmark on the GPU machine (issue 2): attnlab vs Hugging Face transformers.

Random bf16 weights in the Llama-3.2-1B and Qwen2.5-0.5B shapes, batch 1, prompts of 4K and 32K
random token ids. transformers is timed twice: generate() and a hand-written decode loop, both with
sdpa attention. attnlab is timed through build/cuda/bin/attnlab-engine-bench on the same
checkpoints. Prints a markdown table and writes results.json.

  python3 tests/bench/run_engine_bench.py --bench-bin build/cuda/bin/attnlab-engine-bench --out DIR
"""
import argparse
import json
import os
import shutil
import subprocess
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

HBM_BYTES_PER_S = 4.3e12  # measured copy bandwidth on this H200 (shared/reference/performance.md)

def rope_kwargs(theta, scaling=None):
    """transformers 5 takes rope_parameters (with rope_theta inside); 4.x takes rope_theta + rope_scaling."""
    if int(transformers.__version__.split(".")[0]) >= 5:
        params = {"rope_type": "default", "rope_theta": theta}
        params.update(scaling or {})
        return {"rope_parameters": params}
    return {"rope_theta": theta, "rope_scaling": scaling}


SHAPES = {
    "llama-3.2-1b": LlamaConfig(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072,
        rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
        **rope_kwargs(500000.0, {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})),
    "qwen2.5-0.5b": Qwen2Config(
        vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768 + 1024,
        rms_norm_eps=1e-6, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, **rope_kwargs(1000000.0)),
}


def sync():
    torch.cuda.synchronize()


def make_checkpoint(name, config, root, tokenizer_json):
    path = os.path.join(root, name)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
    model.save_pretrained(path, safe_serialization=True)
    shutil.copy(tokenizer_json, os.path.join(path, "tokenizer.json"))
    return path, model


def hf_times(model, n, new_tokens, repeat):
    vocab = model.config.vocab_size
    g = torch.Generator(device="cuda").manual_seed(1234)
    ids = torch.randint(0, min(vocab, 1000), (1, n), device="cuda", generator=g)
    model.eval()
    out = {}
    with torch.inference_mode():
        # prefill
        best = 1e30
        for _ in range(repeat + 1):
            sync(); t = time.perf_counter()
            model(ids, use_cache=True, logits_to_keep=1)
            sync(); best = min(best, time.perf_counter() - t)
        out["prefill_ms"] = best * 1e3
        # hand-written decode loop over the model's own cache
        best = 1e30
        for _ in range(repeat):
            o = model(ids, use_cache=True, logits_to_keep=1)
            past, tok = o.past_key_values, o.logits[:, -1:].argmax(-1)
            sync(); t = time.perf_counter()
            for _ in range(new_tokens - 1):
                o = model(tok, past_key_values=past, use_cache=True)
                past, tok = o.past_key_values, o.logits[:, -1:].argmax(-1)
            sync(); best = min(best, (time.perf_counter() - t) / (new_tokens - 1))
        out["loop_decode_ms_per_token"] = best * 1e3
        # generate(): total minus prefill, per decode step
        best = 1e30
        for _ in range(repeat):
            sync(); t = time.perf_counter()
            model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                           pad_token_id=0)
            sync(); best = min(best, time.perf_counter() - t)
        out["generate_decode_ms_per_token"] = (best * 1e3 - out["prefill_ms"]) / (new_tokens - 1)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="/tmp/attnlab-bench")
    ap.add_argument("--lengths", default="4096,32768")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tokenizer", default="tests/fixtures/parity/llama3/tokenizer.json")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    lengths = [int(x) for x in args.lengths.split(",")]
    torch.backends.cuda.matmul.allow_tf32 = False

    rows = []
    for name, config in SHAPES.items():
        path, model = make_checkpoint(name, config, args.work, args.tokenizer)
        weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        for n in lengths:
            hf = hf_times(model, n, args.new_tokens, args.repeat)
            kv_per_token = (2 * config.num_hidden_layers * config.num_key_value_heads *
                            (getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads) * 2)
            roofline_ms = (weight_bytes + kv_per_token * n) / HBM_BYTES_PER_S * 1e3
            rows.append({"shape": name, "prompt_tokens": n, "engine": "transformers", **hf,
                         "roofline_decode_ms": roofline_ms})
            print(json.dumps(rows[-1]), flush=True)
        del model
        torch.cuda.empty_cache()
        proc = subprocess.run([args.bench_bin, "--model", path, "--device", "cuda", "--prompt-tokens", args.lengths,
                               "--new-tokens", str(args.new_tokens), "--repeat", str(args.repeat)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print("attnlab bench failed:", proc.stderr, flush=True)
            rows.append({"shape": name, "engine": "attnlab", "error": proc.stderr.strip()})
            continue
        for line in proc.stdout.splitlines():
            r = json.loads(line)
            n = r["prompt_tokens"]
            kv_per_token = (2 * config.num_hidden_layers * config.num_key_value_heads *
                            (getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads) * 2)
            r.update({"shape": name, "engine": "attnlab",
                      "roofline_decode_ms": (r["weight_bytes"] + kv_per_token * n) / HBM_BYTES_PER_S * 1e3})
            rows.append(r)
            print(json.dumps(r), flush=True)

    meta = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "transformers": transformers.__version__,
            "gpu": torch.cuda.get_device_name(0), "new_tokens": args.new_tokens, "repeat": args.repeat}
    with open(os.path.join(args.out, "engine_bench.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    lines = ["| shape | prompt | engine | prefill ms | prefill tok/s | decode ms/token | roofline ms/token |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['shape']} | | {r['engine']} | error: {r['error'][:80]} | | | |")
            continue
        n = r["prompt_tokens"]
        if r["engine"] == "transformers":
            dec = f"{r['loop_decode_ms_per_token']:.3f} (loop), {r['generate_decode_ms_per_token']:.3f} (generate)"
        else:
            dec = f"{r['decode_ms_per_token']:.3f}"
        lines.append(f"| {r['shape']} | {n} | {r['engine']} | {r['prefill_ms']:.1f} | {n / r['prefill_ms'] * 1e3:.0f} "
                     f"| {dec} | {r['roofline_decode_ms']:.3f} |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(args.out, "engine_bench.md"), "w") as f:
        f.write(json.dumps(meta) + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()
