// Budget sweep runner (attnlab_core): the comparison of core/engine/compare.cpp over many specs and
// trials, with one shared full-attention prefill per trial.
#include "core/analysis/budget_sweep.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/engine/compare.h"
#include "core/engine/model.h"
#include "core/strategy/calibration.h"
#include "core/strategy/registry.h"

namespace attnlab {

namespace {

// Running means of one point over the trials.
struct Accumulator {
    double kv = 0, accuracy = 0, kl = 0, top1 = 0, prefill = 0, decode = 0;
    int64_t n = 0, n_accuracy = 0, n_kl = 0;
};

}  // namespace

Result<SweepResult> runBudgetSweep(Model& model, const StrategyRegistry& registry, const std::vector<RunInput>& inputs,
                                   const std::vector<std::string>& requested_specs, const SweepOptions& options) {
    using R = Result<SweepResult>;
    if (requested_specs.empty()) return R::fail("no strategy given");
    if (inputs.empty()) return R::fail("no input given");
    // `full` is the reference of every sweep: listed once, first.
    std::vector<std::string> specs;
    std::vector<std::string> canonical;
    for (const std::string& spec : requested_specs) {
        auto probe = registry.create(spec);
        if (!probe) return R::fail(probe.error());
        if (probe->canonical_spec == "full" ||
            std::find(canonical.begin(), canonical.end(), probe->canonical_spec) != canonical.end())
            continue;
        specs.push_back(spec);
        canonical.push_back(probe->canonical_spec);
    }
    auto cancelled = [&] { return options.cancel && options.cancel->load(); };

    // Calibrations once for the whole sweep (run first when missing).
    std::map<std::string, HeadScores> calibrations;
    SweepResult out;
    CalibrationOptions calibration_options;
    calibration_options.task_folder = options.task_folder;
    calibration_options.on_note = [&](const std::string& note) {
        out.notes.push_back(note);
        if (options.on_note) options.on_note(note);
    };
    for (const std::string& spec : specs) {
        auto instance = registry.create(spec);
        const std::string& kind = instance->info.calibration;
        if (kind.empty() || calibrations.count(kind)) continue;
        auto scores = ensureCalibration(model, kind, calibration_options);
        if (!scores) return R::fail(instance->canonical_spec + ": " + scores.error());
        calibrations[kind] = *scores;
    }

    SweepProgress progress;
    progress.runs_total = static_cast<int64_t>(inputs.size()) * (1 + 2 * static_cast<int64_t>(specs.size()));
    auto report = [&](const std::string& spec, int64_t trial) {
        progress.spec = spec;
        progress.trial = trial;
        if (options.on_progress) options.on_progress(progress);
    };

    Accumulator full_acc;
    std::vector<Accumulator> accs(specs.size());
    for (size_t t = 0; t < inputs.size(); ++t) {
        const RunInput& input = inputs[t];
        const auto trial = static_cast<int64_t>(t);
        if (cancelled()) return R::fail("cancelled");
        GenerationSettings settings;
        settings.max_new_tokens = input.has_task ? input.task.max_new_tokens : options.max_new_tokens;
        report("full", trial);
        auto snapshot = model.prefill(input.prompt_ids);
        if (!snapshot) return R::fail("full (prefill): " + snapshot.error());
        GenerationHooks ref_hooks;
        ref_hooks.cancel = options.cancel;
        ref_hooks.reuse_prefill = snapshot->get();
        GenerationSettings ref_settings = settings;
        ref_settings.keep_step_logits = true;
        auto reference = model.generate(input.prompt_ids, ref_settings, ref_hooks);
        if (!reference) return R::fail("full: " + reference.error());
        if (cancelled()) return R::fail("cancelled");
        const GenerationResult& full = *reference;
        ++progress.runs_done;
        full_acc.kv += double(full.kv_bytes);
        full_acc.prefill += full.prefill_ms;
        full_acc.decode += full.decode_ms_per_token;
        full_acc.n += 1;
        if (input.has_task) {
            full_acc.accuracy += isCorrect(input.task, full.output_text) ? 1.0 : 0.0;
            full_acc.n_accuracy += 1;
        }
        if (t == 0) {
            out.prompt_tokens = static_cast<int64_t>(input.prompt_ids.size());
            out.input = input.has_task ? input.task.spec : "free prompt";
        }

        for (size_t s = 0; s < specs.size(); ++s) {
            if (cancelled()) return R::fail("cancelled");
            report(canonical[s], trial);
            auto instance = registry.create(specs[s]);
            const HeadScores* calibration =
                instance->info.calibration.empty() ? nullptr : &calibrations[instance->info.calibration];
            GenerationHooks hooks;
            hooks.cancel = options.cancel;
            hooks.strategy = instance->strategy.get();
            hooks.calibration = calibration;
            hooks.reuse_prefill = snapshot->get();
            auto free_run = model.generate(input.prompt_ids, settings, hooks);
            if (!free_run) return R::fail(canonical[s] + ": " + free_run.error());
            if (cancelled()) return R::fail("cancelled");
            ++progress.runs_done;
            report(canonical[s], trial);

            // Teacher-forced on full's continuation: KL and top-1 agreement.
            auto forced_run = runTeacherForced(model, registry, specs[s], input.prompt_ids, settings, full.output_ids,
                                               calibration, options.cancel, snapshot->get());
            if (!forced_run) return R::fail(canonical[s] + " (teacher-forced): " + forced_run.error());
            if (cancelled()) return R::fail("cancelled");
            ++progress.runs_done;

            Accumulator& a = accs[s];
            a.kv += double(free_run->kv_bytes);
            a.prefill += free_run->prefill_ms;
            a.decode += free_run->decode_ms_per_token;
            a.n += 1;
            if (input.has_task) {
                a.accuracy += isCorrect(input.task, free_run->output_text) ? 1.0 : 0.0;
                a.n_accuracy += 1;
            }
            const DistributionAgreement d = compareDistributions(full.step_logits, forced_run->step_logits, full.vocab_size);
            if (d.steps > 0) {
                a.kl += d.kl_mean;
                a.top1 += d.top1;
                a.n_kl += 1;
            }
        }
    }
    progress.spec.clear();
    if (options.on_progress) options.on_progress(progress);

    auto point = [&](const std::string& spec, const Accumulator& a, bool is_full) {
        SweepPoint p;
        p.spec = spec;
        p.strategy = sweepStrategyName(spec);
        p.budget = sweepSpecParam(spec, "budget");
        p.trials = a.n;
        const double n = double(std::max<int64_t>(1, a.n));
        p.kv_bytes = a.kv / n;
        p.kv_share = full_acc.kv > 0 ? a.kv / full_acc.kv : kSweepMissing;
        if (a.n_accuracy > 0) p.accuracy = a.accuracy / double(a.n_accuracy);
        if (is_full) {
            p.kl_vs_full = 0;
            p.top1_vs_full = 1;
        } else if (a.n_kl > 0) {
            p.kl_vs_full = a.kl / double(a.n_kl);
            p.top1_vs_full = a.top1 / double(a.n_kl);
        }
        p.prefill_ms = a.prefill / n;
        p.decode_ms_per_token = a.decode / n;
        return p;
    };
    out.model = model.info().dir;
    while (out.model.size() > 1 && out.model.back() == '/') out.model.pop_back();
    if (auto slash = out.model.find_last_of('/'); slash != std::string::npos) out.model = out.model.substr(slash + 1);
    out.trials = static_cast<int64_t>(inputs.size());
    out.source = "run";
    out.points.push_back(point("full", full_acc, true));
    for (size_t s = 0; s < specs.size(); ++s) out.points.push_back(point(canonical[s], accs[s], false));
    return out;
}

}  // namespace attnlab
