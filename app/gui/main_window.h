// The desktop app's window: docks for model, input, strategies and results; the attention and mask
// views side by side; the head grid. It wires the engine client to the viewers: snapshots and
// selections are broadcast from here, viewers never talk to each other. GUI thread only.
#pragma once

#include <QMainWindow>
#include <memory>
#include <string>
#include <vector>

#include "app/gui/command_line.h"
#include "app/gui/engine_client.h"

class QAction;
class QLabel;
class QProgressBar;
class QTimer;

namespace attnlab {

class AttentionView;
class DiffView;
struct FigureOptions;
class HeadGridView;
class LongAttentionView;
class InputPanel;
class ModelPanel;
class ResultsPanel;
class SessionBrowser;
class StrategyPanel;
class SweepView;
class TimelineView;

class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    MainWindow(AppOptions options, std::string exe_path, QWidget* parent = nullptr);
    ~MainWindow() override;

    // Starts the model load (and, with --run, the comparison once everything is ready).
    void start();

Q_SIGNALS:
    // With --quit-when-done: everything asked for is finished; `exit_code` 0 if it all worked.
    void automationFinished(int exit_code);

private:
    void buildUi();
    void loadModel();
    void requestPrompt();
    void startRun();
    // Runs the checked strategies at every budget of `budgets` (full first), for the Budget sweep dock.
    void startSweep(const QString& budgets);
    void runSpecs(const std::vector<std::string>& specs);
    // --diff (or File > Difference of two saved runs…): loads two saved runs (any sessions, any models)
    // into the Difference dock. Errors go to the automation summary, or a message box from the menu.
    void openDiffAcrossSessions(bool is_from_menu);
    void broadcastData(std::shared_ptr<const ComparisonData> data);
    void broadcastHead(int64_t layer, int64_t head);
    void setRunning(bool is_running);
    void scheduleLiveRun();

    void onCatalogReady(const StrategyCatalog& catalog);
    void onModelLoaded(const ModelSnapshot& model);
    void onPromptReady(const PromptSnapshot& prompt);
    void onProgress(const ProgressSnapshot& progress);
    void onRunFinished(const RunOutcome& outcome);

    void onSaveFinished(bool is_ok, const QString& message);
    void onRunReopened(std::shared_ptr<const ComparisonData> data, const QString& description);

    void maybeAutoRun();
    void finishAutomation();
    void exportFigures();
    // Draws view `view` (one of kFigureViews) into `file` (.png, .svg or .pdf) with the figure renderer.
    bool exportFigure(const std::string& view, const QString& file, const FigureOptions& options, QString* error,
                      QSize* size);
    void showExportDialog();
    // Shows a long-attention capture file in its dock; errors go to the status bar and the automation summary.
    void openLongAttention(const QString& file);

    AppOptions m_options;
    std::string m_exe_path;
    std::unique_ptr<EngineClient> m_engine;

    ModelPanel* m_model_panel = nullptr;
    InputPanel* m_input_panel = nullptr;
    StrategyPanel* m_strategy_panel = nullptr;
    ResultsPanel* m_results = nullptr;
    AttentionView* m_attention = nullptr;
    AttentionView* m_mask = nullptr;
    HeadGridView* m_grid = nullptr;
    TimelineView* m_timeline = nullptr;
    DiffView* m_diff = nullptr;
    SweepView* m_sweep = nullptr;
    LongAttentionView* m_long_attention = nullptr;
    SessionBrowser* m_sessions = nullptr;  // autosave and the session browser
    QAction* m_run_action = nullptr;
    QAction* m_cancel_action = nullptr;
    QAction* m_live_action = nullptr;  // re-run, debounced, when strategies or input change
    QTimer* m_live_timer = nullptr;
    bool m_is_rerun_pending = false;
    QProgressBar* m_progress = nullptr;
    QLabel* m_progress_text = nullptr;

    ModelSnapshot m_model;
    bool m_has_model_answer = false;
    bool m_has_catalog = false;
    bool m_is_running = false;
    std::shared_ptr<const ComparisonData> m_data;
    RunOutcome m_last_outcome;
    bool m_has_outcome = false;

    // Automation (--run, --export-figure, --quit-when-done).
    bool m_has_auto_run_started = false;
    bool m_is_automation_done = false;
    bool m_is_waiting_for_save = false;  // --quit-when-done reports the autosave's outcome
    std::vector<std::string> m_errors;
    std::vector<std::string> m_notes;
    std::vector<std::pair<FigureRequest, QSize>> m_figures_written;
    QString m_last_figure_dir;  // File > Export figure… starts where the last one went
};

}  // namespace attnlab
