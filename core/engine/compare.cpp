#include "core/engine/compare.h"

#include <algorithm>
#include <cmath>

namespace attnlab {

DistributionAgreement compareDistributions(const std::vector<float>& full, const std::vector<float>& other,
                                            int64_t vocab) {
    DistributionAgreement out;
    out.steps = vocab > 0 ? static_cast<int64_t>(std::min(full.size(), other.size())) / vocab : 0;
    if (out.steps == 0) return out;
    std::vector<double> lp(static_cast<size_t>(vocab)), lq(static_cast<size_t>(vocab));
    auto logSoftmax = [vocab](const float* x, std::vector<double>& result) {
        double m = x[0];
        for (int64_t i = 1; i < vocab; ++i) m = std::max(m, double(x[i]));
        double s = 0;
        for (int64_t i = 0; i < vocab; ++i) s += std::exp(double(x[i]) - m);
        const double lse = m + std::log(s);
        for (int64_t i = 0; i < vocab; ++i) result[static_cast<size_t>(i)] = double(x[i]) - lse;
    };
    double kl_sum = 0;
    int64_t agree = 0;
    for (int64_t t = 0; t < out.steps; ++t) {
        const float* p = full.data() + t * vocab;
        const float* q = other.data() + t * vocab;
        logSoftmax(p, lp);
        logSoftmax(q, lq);
        double kl = 0;
        for (int64_t i = 0; i < vocab; ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
        out.kl_per_token.push_back(std::max(0.0, kl));
        kl_sum += std::max(0.0, kl);
        agree += std::max_element(p, p + vocab) - p == std::max_element(q, q + vocab) - q;
    }
    out.kl_mean = kl_sum / double(out.steps);
    out.top1 = double(agree) / double(out.steps);
    return out;
}

Result<GenerationResult> runTeacherForced(Model& model, const StrategyRegistry& registry, const std::string& spec,
                                          const std::vector<int32_t>& prompt_ids, const GenerationSettings& settings,
                                          const std::vector<int32_t>& reference_ids, const HeadScores* calibration,
                                          const std::atomic<bool>* cancel, const PrefillSnapshot* reuse_prefill) {
    auto instance = registry.create(spec);
    if (!instance) return Result<GenerationResult>::fail(instance.error());
    GenerationSettings forced = settings;
    forced.forced_tokens = reference_ids;
    forced.max_new_tokens = static_cast<int64_t>(reference_ids.size());
    forced.stop_at_eos = false;
    forced.keep_step_logits = true;
    GenerationHooks hooks;
    hooks.cancel = cancel;
    hooks.strategy = instance->strategy.get();
    hooks.calibration = calibration;
    hooks.reuse_prefill = reuse_prefill;
    return model.generate(prompt_ids, forced, hooks);
}

Result<Comparison> runComparison(Model& model, const StrategyRegistry& registry, const RunInput& input,
                                 const std::vector<std::string>& specs, const CompareOptions& options) {
    using R = Result<Comparison>;
    if (specs.empty()) return R::fail("no strategy given");
    for (const std::string& spec : specs) {
        auto probe = registry.create(spec);
        if (!probe) return R::fail(probe.error());
    }
    Comparison out;
    out.input = input;
    GenerationSettings settings = options.settings;
    if (input.has_task) settings.max_new_tokens = input.task.max_new_tokens;
    auto progressFor = [&](const std::string& spec) {
        GenerationHooks hooks;
        hooks.cancel = options.cancel;
        hooks.capture = options.capture;
        if (options.on_progress) hooks.on_progress = [&, spec](const Progress& p) { options.on_progress(spec, p); };
        return hooks;
    };

    // The reference: full attention, its step distributions kept.
    GenerationSettings ref_settings = settings;
    ref_settings.keep_step_logits = true;
    auto reference = model.generate(input.prompt_ids, ref_settings, progressFor("full"));
    if (!reference) return R::fail("full: " + reference.error());
    const GenerationResult& full = *reference;
    out.reference_ids = full.output_ids;

    auto addTaskMetrics = [&](StrategyRun& run) {
        run.metrics["kv_bytes"] = double(run.result.kv_bytes);
        if (full.kv_bytes > 0) run.metrics["kv_bytes_vs_full"] = double(run.result.kv_bytes) / double(full.kv_bytes);
        run.metrics["prefill_ms"] = run.result.prefill_ms;
        run.metrics["decode_ms_per_token"] = run.result.decode_ms_per_token;
        if (input.has_task) run.metrics["accuracy"] = isCorrect(input.task, run.result.output_text) ? 1.0 : 0.0;
    };

    if (options.list_full) {
        StrategyRun run;
        run.spec = "full";
        run.result = full;
        run.result.step_logits.clear();
        run.metrics["kl_vs_full"] = 0;
        run.metrics["top1_vs_full"] = 1;
        run.kl_per_token.assign(full.output_ids.size(), 0.0);
        addTaskMetrics(run);
        out.runs.push_back(std::move(run));
    }

    std::map<std::string, HeadScores> calibrations;
    CalibrationOptions calibration_options = options.calibration;
    calibration_options.on_note = [&](const std::string& note) {
        out.notes.push_back(note);
        if (options.calibration.on_note) options.calibration.on_note(note);
    };
    for (const std::string& spec : specs) {
        if (options.cancel && options.cancel->load()) return R::fail("cancelled");
        StrategyRun run;
        auto instance = registry.create(spec);
        run.spec = instance->canonical_spec;
        const HeadScores* calibration = nullptr;
        if (const std::string& kind = instance->info.calibration; !kind.empty()) {
            if (!calibrations.count(kind)) {
                auto scores = ensureCalibration(model, kind, calibration_options);
                if (!scores) return R::fail(run.spec + ": " + scores.error());
                calibrations[kind] = *scores;
            }
            calibration = &calibrations[kind];
        }
        GenerationHooks hooks = progressFor(run.spec);
        hooks.strategy = instance->strategy.get();
        hooks.trace = &run.trace;
        hooks.calibration = calibration;
        auto free_run = model.generate(input.prompt_ids, settings, hooks);
        if (!free_run) return R::fail(run.spec + ": " + free_run.error());
        run.result = std::move(*free_run);

        // Same continuation as full (teacher forcing) for per-token KL and top-1 agreement.
        auto forced_run = runTeacherForced(model, registry, spec, input.prompt_ids, settings, full.output_ids,
                                           calibration, options.cancel);
        if (!forced_run) return R::fail(run.spec + " (teacher-forced): " + forced_run.error());
        DistributionAgreement agreement = compareDistributions(full.step_logits, forced_run->step_logits, full.vocab_size);
        if (agreement.steps > 0) {
            run.metrics["kl_vs_full"] = agreement.kl_mean;
            run.metrics["top1_vs_full"] = agreement.top1;
            run.kl_per_token = std::move(agreement.kl_per_token);
        }
        addTaskMetrics(run);
        out.runs.push_back(std::move(run));
    }
    return out;
}

}  // namespace attnlab
