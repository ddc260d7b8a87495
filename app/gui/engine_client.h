// The GUI's only door to the engine. It owns the engine thread; every Model, registry and torch
// object lives on that thread and is touched only by jobs running there. The GUI thread submits
// tagged requests and receives value snapshots through this object's signals, always on the GUI
// thread. No engine header with torch in it is included here.
#pragma once

#include <QObject>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/model.h"
#include "core/session/session_store.h"
#include "core/strategy/registry.h"
#include "views/view_data.h"

namespace attnlab {

class EngineThread;

struct ModelSnapshot {
    bool is_ok = false;
    std::string dir;
    std::string error;
    ModelInfo info;
};

struct InputSpec {
    bool is_task = false;
    std::string prompt;     // free prompt
    std::string task_spec;  // "needle:length=256,depth=0.5,seed=0"
    int64_t max_new_tokens = 32;  // free prompts; a task brings its own
};

struct PromptSnapshot {
    bool is_ok = false;
    std::string error;
    InputSpec input;
    int64_t tokens = 0;
    std::string text;       // the prompt as the model reads it (decoded ids, special tokens shown)
    std::string task_spec;  // canonical
    std::string answer;
};

struct RunRequest {
    InputSpec input;
    std::vector<std::string> specs;  // one result column each, in this order
    int64_t focus_layer = 0;         // captured even when the prompt is too long to capture all
};

struct ProgressSnapshot {
    std::string spec;
    std::string stage;  // "prefill", "decode"
    int64_t tokens_done = 0;
    int64_t tokens_total = 0;
    double tokens_per_s = 0;
};

struct RunOutcome {
    bool is_ok = false;
    bool is_cancelled = false;
    std::string error;
    std::shared_ptr<const ComparisonData> data;
    double wall_ms = 0;
    std::string capture_note;  // what was captured when not everything was
    // The session records of this run, one per column in `data`'s order, with the view data the
    // session browser needs to show it again (core/session/run_record.h). Null when the run failed.
    std::shared_ptr<const std::vector<RunRecord>> records;
};

struct StrategyCatalog {
    std::vector<StrategyInfo> strategies;
    std::vector<PluginProblem> problems;
};

class EngineClient : public QObject {
    Q_OBJECT

public:
    // exe_path: where plugins and assets are looked for.
    explicit EngineClient(std::string exe_path, QObject* parent = nullptr);
    ~EngineClient() override;  // cancels, frees the engine on its thread, joins it

    void loadModel(const std::string& dir, const LoadOptions& options);  // tag "model"
    void preparePrompt(const InputSpec& input);                          // tag "prompt"
    void run(const RunRequest& request);                                 // tag "run"
    void cancel();  // the running comparison stops at its next token or layer batch
    int droppedJobs() const;

Q_SIGNALS:
    void catalogReady(const attnlab::StrategyCatalog& catalog);
    void modelLoaded(const attnlab::ModelSnapshot& model);
    void promptReady(const attnlab::PromptSnapshot& prompt);
    void progress(const attnlab::ProgressSnapshot& progress);
    void runFinished(const attnlab::RunOutcome& outcome);

private:
    struct State;  // lives on the engine thread
    std::string m_exe_path;
    std::unique_ptr<State> m_state;
    std::atomic<bool> m_cancel{false};
    EngineThread* m_thread = nullptr;
};

// Exact prefill attention of every layer costs rows x cols x 4 bytes per head; above this many
// bytes for a whole comparison only the focus layer is captured.
constexpr int64_t kCaptureBudgetBytes = int64_t(768) << 20;
// Raw bytes of one column's attention matrices the session keeps per comparison (zlib roughly halves
// them): above it only the focus layer, above that none.
constexpr int64_t kSessionCaptureBytes = int64_t(96) << 20;

// The bundled demo model, or the parity fixture that stands in until it lands.
std::string defaultModelDir(const std::string& exe_path);

}  // namespace attnlab
