#include "app/gui/engine_client.h"

#include <QMetaObject>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "app/gui/engine_thread.h"
#include "core/engine/compare.h"
#include "core/session/run_record.h"
#include "core/tasks/tasks.h"

namespace attnlab {

namespace fs = std::filesystem;

struct EngineClient::State {
    std::unique_ptr<StrategyRegistry> registry;
    std::shared_ptr<Model> model;
    std::string model_dir;
};

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

Result<RunInput> makeInput(Model& model, const InputSpec& spec, const std::string& exe_path) {
    RunInput input;
    if (spec.is_task) {
        const int64_t bos = model.config().bos_token_ids.empty() ? -1 : model.config().bos_token_ids.front();
        auto task = makeTask(spec.task_spec, findTaskFolder(exe_path), model.tokenizer(), bos);
        if (!task) return Result<RunInput>::fail(task.error());
        input.has_task = true;
        input.task = *task;
        input.prompt_ids = task->prompt_ids;
    } else {
        if (spec.prompt.empty()) return Result<RunInput>::fail("the prompt is empty");
        input.prompt_text = spec.prompt;
        auto ids = model.encode(spec.prompt, true);
        if (!ids) return Result<RunInput>::fail(ids.error());
        input.prompt_ids = *ids;
    }
    if (input.prompt_ids.empty()) return Result<RunInput>::fail("the prompt has no tokens");
    return input;
}

std::vector<std::string> tokenTexts(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
    std::vector<std::string> out;
    out.reserve(ids.size());
    for (int32_t id : ids) out.push_back(tokenizer.tokenText(id));
    return out;
}

std::string specName(const std::string& spec) { return spec.substr(0, spec.find(':')); }

}  // namespace

EngineClient::EngineClient(std::string exe_path, QObject* parent)
    : QObject(parent), m_exe_path(std::move(exe_path)), m_state(std::make_unique<State>()) {
    m_thread = new EngineThread(this);
    m_thread->start();
    State* state = m_state.get();
    m_thread->submit("init", [this, state] {
        StrategyCatalog catalog;
        try {
            state->registry = std::make_unique<StrategyRegistry>();
            state->registry->loadDefaultPlugins(m_exe_path);
            catalog.strategies = state->registry->list();
            catalog.problems = state->registry->problems();
        } catch (const std::exception& e) {
            catalog.problems.push_back(PluginProblem{"", std::string("strategy registry: ") + e.what()});
        }
        QMetaObject::invokeMethod(this, [this, catalog] { Q_EMIT catalogReady(catalog); }, Qt::QueuedConnection);
    });
}

EngineClient::~EngineClient() {
    m_cancel = true;
    State* state = m_state.get();
    // Torch state is freed on the thread that owns it.
    m_thread->submit("", [state] {
        state->model.reset();
        state->registry.reset();
    });
    m_thread->stop();
    m_thread->wait();
}

int EngineClient::droppedJobs() const { return m_thread->droppedJobs(); }

void EngineClient::cancel() { m_cancel = true; }

void EngineClient::loadModel(const std::string& dir, const LoadOptions& options) {
    State* state = m_state.get();
    m_thread->submit("model", [this, state, dir, options] {
        ModelSnapshot snap;
        snap.dir = dir;
        try {
            state->model.reset();  // free the old weights first
            state->model_dir.clear();
            auto model = Model::open(dir, options);
            if (model) {
                state->model = *model;
                state->model_dir = dir;
                snap.is_ok = true;
                snap.info = state->model->info();
            } else {
                snap.error = model.error();
            }
        } catch (const std::exception& e) {
            snap.error = e.what();
        }
        QMetaObject::invokeMethod(this, [this, snap] { Q_EMIT modelLoaded(snap); }, Qt::QueuedConnection);
    });
}

void EngineClient::preparePrompt(const InputSpec& input) {
    State* state = m_state.get();
    m_thread->submit("prompt", [this, state, input] {
        PromptSnapshot snap;
        snap.input = input;
        try {
            if (!state->model) {
                snap.error = "no model loaded";
            } else {
                auto made = makeInput(*state->model, input, m_exe_path);
                if (!made) {
                    snap.error = made.error();
                } else {
                    snap.is_ok = true;
                    snap.tokens = static_cast<int64_t>(made->prompt_ids.size());
                    snap.text = state->model->tokenizer().decode(made->prompt_ids, false);
                    if (made->has_task) {
                        snap.task_spec = made->task.spec;
                        snap.answer = made->task.answer;
                    }
                }
            }
        } catch (const std::exception& e) {
            snap.error = e.what();
        }
        QMetaObject::invokeMethod(this, [this, snap] { Q_EMIT promptReady(snap); }, Qt::QueuedConnection);
    });
}

void EngineClient::run(const RunRequest& request) {
    State* state = m_state.get();
    m_thread->submit("run", [this, state, request] {
        m_cancel = false;
        const auto start = Clock::now();
        RunOutcome outcome;
        auto finish = [&] {
            outcome.wall_ms = msSince(start);
            QMetaObject::invokeMethod(this, [this, outcome] { Q_EMIT runFinished(outcome); }, Qt::QueuedConnection);
        };
        try {
            if (!state->model) {
                outcome.error = "no model loaded";
                return finish();
            }
            if (!state->registry) {
                outcome.error = "the strategy registry did not start";
                return finish();
            }
            if (request.specs.empty()) {
                outcome.error = "no strategy chosen";
                return finish();
            }
            Model& model = *state->model;
            auto input = makeInput(model, request.input, m_exe_path);
            if (!input) {
                outcome.error = input.error();
                return finish();
            }
            // `full` is the comparison's reference anyway: list that run instead of running it again.
            std::vector<std::string> specs;
            bool list_full = false;
            for (const std::string& s : request.specs) {
                if (s == "full" && request.specs.size() > 1) {
                    list_full = true;
                } else {
                    specs.push_back(s);
                }
            }
            const ModelInfo info = model.info();
            CompareOptions options;
            options.list_full = list_full;
            options.settings.max_new_tokens = request.input.max_new_tokens;
            options.cancel = &m_cancel;
            // Strategies that need a calibration (duo, razor) run it first when the model has none.
            options.calibration.task_folder = findTaskFolder(m_exe_path);
            const int64_t tokens = static_cast<int64_t>(input->prompt_ids.size());
            const int64_t per_layer = tokens * tokens * 4 * info.heads;
            const int64_t copies = static_cast<int64_t>(request.specs.size()) + 1;
            const int64_t focus = std::clamp<int64_t>(request.focus_layer, 0, std::max<int64_t>(0, info.layers - 1));
            if (per_layer * info.layers * copies <= kCaptureBudgetBytes) {
                for (int64_t l = 0; l < info.layers; ++l) options.capture.layers.push_back(l);
            } else if (per_layer * copies <= kCaptureBudgetBytes) {
                options.capture.layers.push_back(focus);
                outcome.capture_note = "prompt too long to keep every layer's attention: captured layer " +
                                       std::to_string(focus) + " only";
            } else {
                outcome.capture_note = "prompt too long to keep exact attention matrices: none captured";
            }
            auto last_post = std::make_shared<Clock::time_point>(Clock::time_point{});
            auto last_stage = std::make_shared<std::string>();
            options.on_progress = [this, last_post, last_stage](const std::string& spec, const Progress& p) {
                // At most ~20 snapshots a second, but every stage change and every end.
                const auto now = Clock::now();
                const std::string stage = spec + "/" + p.stage;
                if (stage == *last_stage && p.tokens_done < p.tokens_total &&
                    now - *last_post < std::chrono::milliseconds(50))
                    return;
                *last_post = now;
                *last_stage = stage;
                ProgressSnapshot snap{spec, p.stage, p.tokens_done, p.tokens_total, p.tokens_per_s};
                QMetaObject::invokeMethod(this, [this, snap] { Q_EMIT progress(snap); }, Qt::QueuedConnection);
            };
            const int64_t started_ms = nowUnixMs();
            auto comparison = runComparison(model, *state->registry, *input, specs, options);
            if (!comparison) {
                outcome.is_cancelled = m_cancel.load();
                outcome.error = outcome.is_cancelled ? "cancelled" : comparison.error();
                return finish();
            }
            auto data = std::make_shared<ComparisonData>();
            data->model_name = fs::path(state->model_dir).filename().string();
            data->layers = info.layers;
            data->heads = info.heads;
            data->kv_heads = info.kv_heads;
            data->prompt_tokens = tokenTexts(model.tokenizer(), input->prompt_ids);
            if (input->has_task) {
                data->task_spec = input->task.spec;
                data->answer = input->task.answer;
            }
            // Columns in the order asked for.
            data->reference_tokens = tokenTexts(model.tokenizer(), comparison->reference_ids);
            std::vector<StrategyRun> runs = std::move(comparison->runs);
            std::vector<bool> used(runs.size(), false);
            auto take = [&](const std::string& spec) -> StrategyRun* {
                auto canonical = state->registry->create(spec);
                const std::string want = canonical ? canonical->canonical_spec : spec;
                for (size_t i = 0; i < runs.size(); ++i)
                    if (!used[i] && (runs[i].spec == want || (want == "full" && specName(runs[i].spec) == "full"))) {
                        used[i] = true;
                        return &runs[i];
                    }
                return nullptr;
            };
            std::vector<StrategyRun> ordered;
            for (const std::string& spec : request.specs)
                if (StrategyRun* r = take(spec)) ordered.push_back(std::move(*r));
            // Session records first (they copy the captures), then the snapshot takes them over.
            RecordContext context;
            context.model = info;
            // content_hash: filled in by the session thread (hashing a big checkpoint takes seconds).
            context.attnlab_version = attnlabVersion();
            context.libtorch_version = libtorchVersion();
            context.started_unix_ms = started_ms;
            context.ended_unix_ms = nowUnixMs();
            for (const StrategyInfo& s : state->registry->list()) context.strategy_origins[s.name] = s.origin;
            // The session keeps every captured layer while one column's matrices fit in
            // kSessionCaptureBytes, else the layer on screen only, else none (the run is still saved).
            auto bytesOf = [](const std::vector<AttentionMatrix>& ms, int64_t layer) {
                int64_t bytes = 0;
                for (const AttentionMatrix& m : ms)
                    if (layer < 0 || m.layer == layer) bytes += m.rows * m.cols * int64_t(sizeof(float));
                return bytes;
            };
            const std::vector<AttentionMatrix> none;
            const auto& first = ordered.empty() ? none : ordered.front().result.captures;
            const int64_t keep_layer = bytesOf(first, -1) <= kSessionCaptureBytes      ? -1
                                       : bytesOf(first, focus) <= kSessionCaptureBytes ? focus
                                                                                       : -2;
            if (keep_layer == focus) outcome.capture_note += (outcome.capture_note.empty() ? "" : "; ") +
                                                            std::string("session keeps layer ") + std::to_string(focus) +
                                                            "'s attention only";
            if (keep_layer == -2 && !first.empty())
                outcome.capture_note += (outcome.capture_note.empty() ? "" : "; ") +
                                        std::string("attention too large to keep in the session");
            std::vector<RunViewData> views;
            for (const StrategyRun& r : ordered) {
                RunViewData v;
                v.prompt_tokens = data->prompt_tokens;
                v.output_tokens = tokenTexts(model.tokenizer(), r.result.output_ids);
                v.reference_tokens = data->reference_tokens;
                for (const AttentionMatrix& m : r.result.captures)
                    if (keep_layer == -1 || m.layer == keep_layer) v.captures.push_back(m);
                views.push_back(std::move(v));
            }
            outcome.records = std::make_shared<const std::vector<RunRecord>>(comparisonRecords(
                context, *input, ordered, comparison->notes, options.settings.max_new_tokens, &views));
            views.clear();
            for (StrategyRun& run : ordered) {
                StrategyRun* r = &run;
                RunData d;
                d.spec = r->spec;
                d.output_text = r->result.output_text;
                d.output_tokens = tokenTexts(model.tokenizer(), r->result.output_ids);
                d.stop_reason = r->result.stop_reason;
                d.metrics = r->metrics;
                d.kv_bytes = r->result.kv_bytes;
                d.kv_peak_bytes = r->result.kv_peak_bytes;
                d.prefill_ms = r->result.prefill_ms;
                d.decode_ms_per_token = r->result.decode_ms_per_token;
                d.decode_tokens = r->result.decode_tokens;
                d.captures = std::move(r->result.captures);
                d.trace = std::move(r->trace);
                d.kl_per_token = r->kl_per_token;
                data->runs.push_back(std::move(d));
            }
            outcome.is_ok = true;
            outcome.is_cancelled = m_cancel.load();
            outcome.data = std::move(data);
        } catch (const std::exception& e) {
            outcome.error = e.what();
        }
        finish();
    });
}

std::string defaultModelDir(const std::string& exe_path) {
    std::error_code ec;
    auto hasWeights = [&](const fs::path& dir) {
        return fs::exists(dir / "model.safetensors", ec) || fs::exists(dir / "model.safetensors.index.json", ec);
    };
    if (const char* env = std::getenv("ATTNLAB_ASSETS")) {
        const fs::path demo = fs::path(env) / "models/attnlab-demo";
        if (hasWeights(demo)) return demo.string();
    }
    fs::path dir = fs::weakly_canonical(fs::path(exe_path), ec).parent_path();
    std::string fallback;
    for (int i = 0; i < 6 && !dir.empty(); ++i) {
        for (const fs::path& c : {dir / "assets/models/attnlab-demo", dir / "share/attnlab/assets/models/attnlab-demo"})
            if (hasWeights(c)) return c.string();
        // Until the bundled demo model lands, a parity checkpoint stands in.
        const fs::path fixture = dir / "tests/fixtures/parity/llama3";
        if (fallback.empty() && hasWeights(fixture)) fallback = fixture.string();
        if (dir == dir.parent_path()) break;
        dir = dir.parent_path();
    }
    return fallback.empty() ? std::string("assets/models/attnlab-demo") : fallback;
}

}  // namespace attnlab
