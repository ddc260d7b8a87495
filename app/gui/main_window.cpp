#include "app/gui/main_window.h"

#include <QAction>
#include <QApplication>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QInputDialog>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QScreen>
#include <QSplitter>
#include <QStatusBar>
#include <QTimer>
#include <QToolBar>
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/gui/input_panel.h"
#include "app/gui/model_panel.h"
#include "app/gui/results_panel.h"
#include "app/gui/session_browser.h"
#include "app/gui/session_diff.h"
#include "app/gui/strategy_panel.h"
#include "core/analysis/budget_sweep.h"
#include "views/attention_model.h"
#include "views/attention_view.h"
#include "views/diff_view.h"
#include "views/figure/export_dialog.h"
#include "views/figure/figure.h"
#include "views/figure/view_figures.h"
#include "views/head_grid_model.h"
#include "views/head_grid_view.h"
#include "views/long_attention_view.h"
#include "views/sweep_figure.h"
#include "views/sweep_view.h"
#include "views/timeline_view.h"
#ifdef ATTNLAB_WITH_SCENE_VIEW
#include "views/scene_view.h"
#endif
#ifdef ATTNLAB_WITH_SCANPATH_VIEW
#include "views/scanpath_view.h"
#endif

namespace attnlab {

namespace {

QDockWidget* addDock(QMainWindow* window, const QString& title, QWidget* content, Qt::DockWidgetArea area) {
    auto* dock = new QDockWidget(title, window);
    dock->setObjectName(title + QStringLiteral("Dock"));
    dock->setWidget(content);
    window->addDockWidget(area, dock);
    return dock;
}

}  // namespace

MainWindow::MainWindow(AppOptions options, std::string exe_path, QWidget* parent)
    : QMainWindow(parent), m_options(std::move(options)), m_exe_path(std::move(exe_path)) {
    setWindowTitle(QStringLiteral("attnlab"));
    buildUi();
    m_engine = std::make_unique<EngineClient>(m_exe_path);
    connect(m_engine.get(), &EngineClient::catalogReady, this, &MainWindow::onCatalogReady);
    connect(m_engine.get(), &EngineClient::modelLoaded, this, &MainWindow::onModelLoaded);
    connect(m_engine.get(), &EngineClient::promptReady, this, &MainWindow::onPromptReady);
    connect(m_engine.get(), &EngineClient::progress, this, &MainWindow::onProgress);
    connect(m_engine.get(), &EngineClient::runFinished, this, &MainWindow::onRunFinished);
}

MainWindow::~MainWindow() = default;

void MainWindow::buildUi() {
    resize(1500, 950);
    m_attention = new AttentionView(AttentionView::Mode::Attention, this);
    m_mask = new AttentionView(AttentionView::Mode::Mask, this);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(m_attention);
    split->addWidget(m_mask);
    split->setChildrenCollapsible(false);
    setCentralWidget(split);

    m_model_panel = new ModelPanel(this);
    m_input_panel = new InputPanel(this);
    m_strategy_panel = new StrategyPanel(this);
    m_results = new ResultsPanel(this);
    m_grid = new HeadGridView(this);
    QDockWidget* model_dock = addDock(this, tr("Model"), m_model_panel, Qt::LeftDockWidgetArea);
    QDockWidget* input_dock = addDock(this, tr("Input"), m_input_panel, Qt::LeftDockWidgetArea);
    QDockWidget* strategy_dock = addDock(this, tr("Strategies"), m_strategy_panel, Qt::LeftDockWidgetArea);
    QDockWidget* grid_dock = addDock(this, tr("Head grid"), m_grid, Qt::RightDockWidgetArea);
    QDockWidget* results_dock = addDock(this, tr("Results"), m_results, Qt::BottomDockWidgetArea);
    // The KV-cache timeline and the difference map share the bottom area with the results, as tabs.
    m_timeline = new TimelineView(this);
    m_diff = new DiffView(this);
    QDockWidget* timeline_dock = addDock(this, tr("KV timeline"), m_timeline, Qt::BottomDockWidgetArea);
    QDockWidget* diff_dock = addDock(this, tr("Difference"), m_diff, Qt::BottomDockWidgetArea);
    tabifyDockWidget(results_dock, timeline_dock);
    tabifyDockWidget(timeline_dock, diff_dock);
    // Budget sweep (issue 7): every column of the comparison as a point over KV bytes; Sweep runs budgets.
    m_sweep = new SweepView(this);
    QDockWidget* sweep_dock = addDock(this, tr("Budget sweep"), m_sweep, Qt::BottomDockWidgetArea);
    tabifyDockWidget(diff_dock, sweep_dock);
#ifdef ATTNLAB_WITH_SCENE_VIEW
    // Scene layouts (issue 10): plan -> render with token->pixel attention; loads its model when first shown.
    auto* scene_view = new SceneView(QFileInfo(QString::fromStdString(m_exe_path)).absolutePath(), this);
    QDockWidget* scene_dock = addDock(this, tr("Scene layout"), scene_view, Qt::BottomDockWidgetArea);
    tabifyDockWidget(diff_dock, scene_dock);
#endif
#ifdef ATTNLAB_WITH_SCANPATH_VIEW
    // OAT scanpaths (issue 9): model vs simulated subjects on a search display; loads its model when first shown.
    auto* scanpath_view = new ScanpathView(QFileInfo(QString::fromStdString(m_exe_path)).absolutePath(), this);
    QDockWidget* scanpath_dock = addDock(this, tr("Scanpaths"), scanpath_view, Qt::BottomDockWidgetArea);
    tabifyDockWidget(diff_dock, scanpath_dock);
#endif
    results_dock->raise();
    m_sessions = new SessionBrowser(this);
    QDockWidget* session_dock = addDock(this, tr("Sessions"), m_sessions, Qt::RightDockWidgetArea);
    // One head of a long prompt (issue 7), from a capture file (--long-attention FILE or the File menu).
    m_long_attention = new LongAttentionView(this);
    QDockWidget* long_dock = addDock(this, tr("Long attention"), m_long_attention, Qt::BottomDockWidgetArea);
    tabifyDockWidget(results_dock, long_dock);
    results_dock->raise();
    // The left column runs the full height; results sit under the views.
    setCorner(Qt::BottomLeftCorner, Qt::LeftDockWidgetArea);
    setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);
    resizeDocks({model_dock, input_dock, strategy_dock}, {250, 330, 360}, Qt::Vertical);
    resizeDocks({model_dock, grid_dock}, {340, 360}, Qt::Horizontal);
    resizeDocks({results_dock}, {290}, Qt::Vertical);

    auto* toolbar = addToolBar(tr("Run"));
    toolbar->setObjectName(QStringLiteral("RunToolbar"));
    m_run_action = toolbar->addAction(tr("Run"));
    m_run_action->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    m_run_action->setToolTip(tr("Run the checked strategies on the input (Ctrl+R)"));
    m_cancel_action = toolbar->addAction(tr("Cancel"));
    m_cancel_action->setEnabled(false);
    m_live_action = toolbar->addAction(tr("Live"));
    m_live_action->setCheckable(true);
    m_live_action->setToolTip(tr("Run again whenever a strategy parameter or the input changes"));
    m_live_timer = new QTimer(this);
    m_live_timer->setSingleShot(true);
    m_live_timer->setInterval(400);
    connect(m_live_timer, &QTimer::timeout, this, [this] {
        if (!m_is_running) {
            startRun();
            return;
        }
        // A newer request replaces the running one: stop it, run again when it has finished.
        m_is_rerun_pending = true;
        m_engine->cancel();
    });
    m_progress = new QProgressBar(this);
    m_progress->setMaximumWidth(260);
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progress->setTextVisible(false);
    toolbar->addWidget(m_progress);
    m_progress_text = new QLabel(tr("  idle"), this);
    m_progress_text->setObjectName(QStringLiteral("progressText"));
    toolbar->addWidget(m_progress_text);

    auto* file_menu = menuBar()->addMenu(tr("&File"));
    QAction* export_action = file_menu->addAction(tr("&Export figure…"), this, &MainWindow::showExportDialog);
    export_action->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    export_action->setObjectName(QStringLiteral("exportFigureAction"));
    file_menu->addAction(tr("Open &long-attention capture…"), this, [this] {
        const QString file = QFileDialog::getOpenFileName(this, tr("Open long-attention capture"), QString(),
                                                          tr("Captures (*.safetensors)"));
        if (!file.isEmpty()) openLongAttention(file);
    });
    file_menu->addAction(tr("&Difference of two saved runs…"), this, [this] {
        bool is_ok = false;
        const QString text = QInputDialog::getText(
            this, tr("Difference of two saved runs"),
            tr("B minus A as FILE_A#RUN:FILE_B#RUN (any session files or models, same prompt;\n"
               "leave a file out for the current session, e.g. #3:other.attnlab#5):"),
            QLineEdit::Normal, QString::fromStdString(m_options.diff_runs_across), &is_ok);
        if (!is_ok || text.trimmed().isEmpty()) return;
        m_options.diff_runs_across = text.trimmed().toStdString();
        openDiffAcrossSessions(true);
    });
    file_menu->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    auto* view_menu = menuBar()->addMenu(tr("&View"));
    view_menu->addAction(long_dock->toggleViewAction());
    for (QDockWidget* d : {model_dock, input_dock, strategy_dock, grid_dock, session_dock, results_dock, timeline_dock,
                           diff_dock, sweep_dock})
        view_menu->addAction(d->toggleViewAction());
#ifdef ATTNLAB_WITH_SCENE_VIEW
    view_menu->addAction(scene_dock->toggleViewAction());
#endif
#ifdef ATTNLAB_WITH_SCANPATH_VIEW
    view_menu->addAction(scanpath_dock->toggleViewAction());
#endif

    connect(m_run_action, &QAction::triggered, this, &MainWindow::startRun);
    connect(m_sweep, &SweepView::sweepRequested, this, &MainWindow::startSweep);
    connect(m_cancel_action, &QAction::triggered, this, [this] {
        m_engine->cancel();
        m_progress_text->setText(tr("  cancelling…"));
    });
    connect(m_model_panel, &ModelPanel::loadRequested, this, &MainWindow::loadModel);
    connect(m_input_panel, &InputPanel::inputChanged, this, &MainWindow::requestPrompt);
    connect(m_input_panel, &InputPanel::inputChanged, this, &MainWindow::scheduleLiveRun);
    connect(m_strategy_panel, &StrategyPanel::selectionChanged, this, &MainWindow::scheduleLiveRun);
    connect(m_attention, &AttentionView::headPicked, this, [this](qint64 l, qint64 h) { broadcastHead(l, h); });
    connect(m_mask, &AttentionView::headPicked, this, [this](qint64 l, qint64 h) { broadcastHead(l, h); });
    connect(m_grid, &HeadGridView::headActivated, this, [this](qint64 l, qint64 h) { broadcastHead(l, h); });
    // Row/column focus in either matrix view tints the prompt text in the input dock.
    connect(m_attention, &AttentionView::tokenFocusChanged, m_input_panel, &InputPanel::showTokenFocus);
    connect(m_mask, &AttentionView::tokenFocusChanged, m_input_panel, &InputPanel::showTokenFocus);
    connect(m_sessions, &SessionBrowser::saveFinished, this, &MainWindow::onSaveFinished);
    connect(m_sessions, &SessionBrowser::runReopened, this, &MainWindow::onRunReopened);
    connect(m_sessions, &SessionBrowser::reopenFailed, this, [this](const QString& error) {
        statusBar()->showMessage(tr("Could not reopen the run: %1").arg(error));
        if (m_has_auto_run_started && !m_is_automation_done) {
            m_errors.push_back("--open-run: " + error.toStdString());
            finishAutomation();
        }
    });
    connect(m_sessions, &SessionBrowser::sessionListed, this, [this](bool is_ok, const QString& error) {
        if (!is_ok) statusBar()->showMessage(tr("Session not usable, runs are not saved: %1").arg(error));
    });
    statusBar()->showMessage(tr("Starting the engine…"));
}

void MainWindow::openLongAttention(const QString& file) {
    const Status status = m_long_attention->openFile(file.toStdString());
    if (!status.isOk()) {
        statusBar()->showMessage(tr("Could not open the long-attention capture: %1").arg(QString::fromStdString(status.error())));
        std::cerr << "attnlab: --long-attention: " << status.error() << "\n";
        m_errors.push_back("--long-attention: " + status.error());
        return;
    }
    if (auto* dock = qobject_cast<QDockWidget*>(m_long_attention->parentWidget())) dock->raise();
    statusBar()->showMessage(tr("Opened %1").arg(file));
}

void MainWindow::openDiffAcrossSessions(bool is_from_menu) {
    auto request = parseDiffRuns(m_options.diff_runs_across);
    // The session the Sessions dock shows (Open… may have switched it).
    const std::string current = !m_sessions->path().empty()       ? m_sessions->path()
                                : m_options.session_file.empty() ? defaultSessionPath()
                                                                 : m_options.session_file;
    auto pair = request ? loadDiffPair(*request, current) : Result<DiffPair>::fail(request.error());
    if (!pair) {
        statusBar()->showMessage(tr("Could not compare the saved runs: %1").arg(QString::fromStdString(pair.error())));
        if (is_from_menu) {
            QMessageBox::warning(this, tr("Difference of two saved runs"), QString::fromStdString(pair.error()));
        } else {
            std::cerr << "attnlab: --diff: " << pair.error() << "\n";
            m_errors.push_back("--diff: " + pair.error());
        }
        return;
    }
    for (const std::string& note : pair->notes) {
        m_notes.push_back("--diff: " + note);
        statusBar()->showMessage(QString::fromStdString(note), 8000);
    }
    m_diff->setData(pair->data);
    m_diff->selectRuns(0, 1);
    if (auto* dock = qobject_cast<QDockWidget*>(m_diff->parentWidget())) dock->raise();
}

void MainWindow::start() {
    if (!m_options.long_attention_file.empty()) openLongAttention(QString::fromStdString(m_options.long_attention_file));
    if (!m_options.diff_runs_across.empty()) openDiffAcrossSessions(false);
    if (!m_options.sweep_json_file.empty()) {
        const Status s = m_sweep->openFile(m_options.sweep_json_file);
        if (!s.isOk()) {
            std::cerr << "attnlab: --sweep-json: " << s.error() << "\n";
            m_errors.push_back("--sweep-json: " + s.error());
        } else if (auto* dock = qobject_cast<QDockWidget*>(m_sweep->parentWidget())) {
            dock->raise();
        }
    }
    m_sessions->openSession(m_options.session_file.empty() ? defaultSessionPath() : m_options.session_file,
                            m_options.open_run <= 0);
    if (!m_options.prompt.empty()) m_input_panel->setPrompt(QString::fromStdString(m_options.prompt));
    if (!m_options.task_spec.empty()) {
        std::string error;
        if (!m_input_panel->setTaskSpec(m_options.task_spec, &error)) m_errors.push_back("--task: " + error);
    }
    if (m_options.max_new_tokens >= 0) m_input_panel->setMaxNewTokens(m_options.max_new_tokens);
    if (m_options.layer >= 0) broadcastHead(m_options.layer, m_options.head);
    LoadOptions load;
    load.device = m_options.device;
    load.dtype = m_options.dtype;
    m_model_panel->setLoadOptions(load);
    m_model_panel->setDirectory(QString::fromStdString(m_options.model_dir.empty() ? defaultModelDir(m_exe_path)
                                                                                   : m_options.model_dir));
    loadModel();
}

void MainWindow::loadModel() {
    const QString dir = m_model_panel->directory();
    m_model_panel->setLoading();
    statusBar()->showMessage(tr("Loading %1 …").arg(dir));
    m_engine->loadModel(dir.toStdString(), m_model_panel->loadOptions());
}

void MainWindow::requestPrompt() {
    if (!m_model.is_ok) return;
    m_engine->preparePrompt(m_input_panel->input());
}

void MainWindow::startRun() { runSpecs(m_strategy_panel->checkedSpecs()); }

void MainWindow::startSweep(const QString& budgets) {
    if (m_is_running) return;
    // full is the reference column; every checked strategy with a budget runs at each budget.
    std::vector<std::string> specs{"full"};
    auto list = parseBudgetList(budgets.toStdString());
    if (list) {
        for (const std::string& spec : m_strategy_panel->checkedSpecs()) {
            if (sweepStrategyName(spec) == "full") continue;
            std::vector<std::string> variants{spec};
            if (!sweepSpecParam(spec, "budget").empty()) {
                variants.clear();
                for (const std::string& b : *list) variants.push_back(withSweepSpecParam(spec, "budget", b));
            }
            for (const std::string& v : variants)
                if (std::find(specs.begin(), specs.end(), v) == specs.end()) specs.push_back(v);
        }
    }
    if (!list || specs.size() == 1) {
        const std::string problem = !list ? list.error() : "check at least one strategy besides full";
        statusBar()->showMessage(tr("Cannot sweep: %1").arg(QString::fromStdString(problem)));
        if (m_has_auto_run_started && !m_is_automation_done) {
            m_errors.push_back("sweep: " + problem);
            finishAutomation();
        }
        return;
    }
    if (auto* dock = qobject_cast<QDockWidget*>(m_sweep->parentWidget())) dock->raise();
    runSpecs(specs);
}

void MainWindow::runSpecs(const std::vector<std::string>& specs) {
    if (m_is_running) return;
    std::string problem = m_strategy_panel->validationError();
    if (specs.empty()) problem = "check at least one strategy";
    if (!m_model.is_ok) problem = m_has_model_answer ? "no model loaded: " + m_model.error : "the model is still loading";
    if (!problem.empty()) {
        statusBar()->showMessage(tr("Cannot run: %1").arg(QString::fromStdString(problem)));
        if (m_has_auto_run_started && !m_is_automation_done) {
            m_errors.push_back("run: " + problem);
            finishAutomation();
        }
        return;
    }
    RunRequest request;
    request.input = m_input_panel->input();
    request.specs = specs;
    request.focus_layer = m_attention->model().layer();
    setRunning(true);
    m_progress_text->setText(tr("  waiting for the engine…"));
    m_engine->run(request);
}

void MainWindow::scheduleLiveRun() {
    if (m_live_action->isChecked() && m_model.is_ok) m_live_timer->start();
}

void MainWindow::setRunning(bool is_running) {
    m_is_running = is_running;
    m_run_action->setEnabled(!is_running);
    m_cancel_action->setEnabled(is_running);
    if (is_running) {
        m_progress->setRange(0, 0);  // busy until the first progress snapshot
    } else {
        m_progress->setRange(0, 1);
        m_progress->setValue(m_has_outcome && m_last_outcome.is_ok ? 1 : 0);
    }
}

void MainWindow::broadcastData(std::shared_ptr<const ComparisonData> data) {
    m_data = data;
    m_results->setData(data);
    m_attention->setData(data);
    m_mask->setData(data);
    m_grid->setData(data);
    m_timeline->setData(data);
    m_diff->setData(data);
    m_sweep->setData(data);
    if (m_options.diff_run_a >= 0) m_diff->selectRuns(m_options.diff_run_a, m_options.diff_run_b);
    broadcastHead(m_attention->model().layer(), m_attention->model().head());
}

void MainWindow::broadcastHead(int64_t layer, int64_t head) {
    m_attention->selectHead(layer, head);
    m_mask->selectHead(layer, head);
    m_grid->setSelected(m_attention->model().layer(), m_attention->model().head());
    m_timeline->selectHead(m_attention->model().layer(), m_attention->model().head());
    m_diff->selectHead(m_attention->model().layer(), m_attention->model().head());
}

void MainWindow::onCatalogReady(const StrategyCatalog& catalog) {
    m_has_catalog = true;
    m_strategy_panel->setCatalog(catalog);
    for (const PluginProblem& p : catalog.problems) std::cerr << "attnlab: plugin " << p.reason << "\n";
    if (!m_options.strategies.empty()) {
        std::string error;
        if (!m_strategy_panel->applySpecs(m_options.strategies, &error)) {
            m_errors.push_back("--strategy: " + error);
            statusBar()->showMessage(QString::fromStdString("--strategy: " + error));
        }
    }
    maybeAutoRun();
}

void MainWindow::onModelLoaded(const ModelSnapshot& model) {
    m_model = model;
    m_has_model_answer = true;
    m_model_panel->showModel(model);
    if (model.is_ok) {
        statusBar()->showMessage(tr("Loaded %1").arg(QString::fromStdString(model.dir)), 5000);
        requestPrompt();
    } else {
        statusBar()->showMessage(tr("Could not load the model: %1").arg(QString::fromStdString(model.error)));
    }
    maybeAutoRun();
}

void MainWindow::onPromptReady(const PromptSnapshot& prompt) { m_input_panel->showPrompt(prompt); }

void MainWindow::onProgress(const ProgressSnapshot& p) {
    if (!m_is_running) return;
    m_progress->setRange(0, static_cast<int>(std::max<int64_t>(1, p.tokens_total)));
    m_progress->setValue(static_cast<int>(p.tokens_done));
    QString text = tr("  %1 · %2 %3/%4 tokens")
                       .arg(QString::fromStdString(p.spec), QString::fromStdString(p.stage))
                       .arg(p.tokens_done)
                       .arg(p.tokens_total);
    if (p.tokens_per_s > 0) text += tr(" · %1 tokens/s").arg(p.tokens_per_s, 0, 'f', 1);
    m_progress_text->setText(text);
}

void MainWindow::onRunFinished(const RunOutcome& outcome) {
    m_last_outcome = outcome;
    m_has_outcome = true;
    setRunning(false);
    if (outcome.is_ok && outcome.data) {
        broadcastData(outcome.data);
        if (outcome.records) {  // autosave; the results on screen stay whatever happens to it
            m_sessions->saveRun(outcome.records);
            m_is_waiting_for_save = m_has_auto_run_started && !m_is_automation_done;
        }
        QString text = tr("  done in %1 s").arg(outcome.wall_ms / 1000.0, 0, 'f', 2);
        if (!outcome.capture_note.empty()) text += QStringLiteral(" · ") + QString::fromStdString(outcome.capture_note);
        m_progress_text->setText(text);
        statusBar()->showMessage(tr("Run finished: %n column(s)", nullptr, static_cast<int>(outcome.data->runs.size())),
                                 5000);
    } else {
        m_progress_text->setText(outcome.is_cancelled ? tr("  cancelled") : tr("  failed"));
        statusBar()->showMessage(tr("Run failed: %1").arg(QString::fromStdString(outcome.error)));
        if (!outcome.is_cancelled)
            m_results->clear(tr("The run failed: %1").arg(QString::fromStdString(outcome.error)));
    }
    if (m_is_rerun_pending) {
        m_is_rerun_pending = false;
        QTimer::singleShot(0, this, &MainWindow::startRun);
    }
    if (m_has_auto_run_started && !m_is_automation_done) {
        if (!outcome.is_ok) m_errors.push_back("run: " + outcome.error);
        if (!outcome.capture_note.empty()) m_notes.push_back(outcome.capture_note);
        if (outcome.is_ok) exportFigures();
        if (!m_is_waiting_for_save) finishAutomation();
    }
}

void MainWindow::onSaveFinished(bool is_ok, const QString& message) {
    statusBar()->showMessage(message, is_ok ? 5000 : 0);
    if (!is_ok) std::cerr << "attnlab: " << message.toStdString() << "\n";
    if (!m_is_waiting_for_save) return;
    m_is_waiting_for_save = false;
    if (!is_ok) m_errors.push_back("session: " + message.toStdString());
    finishAutomation();
}

void MainWindow::onRunReopened(std::shared_ptr<const ComparisonData> data, const QString& description) {
    if (m_is_running) return;  // a fresh run owns the views
    broadcastData(data);
    m_progress_text->setText(QStringLiteral("  ") + tr("showing %1").arg(description));
    statusBar()->showMessage(tr("Showing %1").arg(description), 5000);
    if (m_has_auto_run_started && !m_is_automation_done && m_options.open_run > 0) {
        exportFigures();
        finishAutomation();
    }
}

void MainWindow::maybeAutoRun() {
    if (!m_has_catalog || !m_has_model_answer || m_has_auto_run_started || m_is_automation_done) return;
    if (m_options.open_run > 0) {
        m_has_auto_run_started = true;
        m_sessions->reopenRun(m_options.open_run);  // queued after the session's open
    } else if (m_options.is_run) {
        m_has_auto_run_started = true;
        if (!m_errors.empty()) return finishAutomation();  // bad --strategy / --task: do not run something else
        if (!m_options.sweep_budgets.empty()) return startSweep(QString::fromStdString(m_options.sweep_budgets));
        startRun();
    } else if (!m_options.diff_runs_across.empty() || !m_options.sweep_json_file.empty()) {
        // Saved results only (--diff, --sweep-json): draw the figures asked for, no engine run.
        m_has_auto_run_started = true;
        if (m_errors.empty()) exportFigures();
        finishAutomation();
    } else if (m_options.is_quit_when_done) {
        m_has_auto_run_started = true;
        if (!m_model.is_ok) m_errors.push_back("model: " + m_model.error);
        finishAutomation();
    }
}

bool MainWindow::exportFigure(const std::string& view, const QString& file, const FigureOptions& options,
                              QString* error, QSize* size) {
    // Every view through the one figure renderer, from the view models the canvases draw.
    std::unique_ptr<Figure> figure;
    if (view == "attention") figure = std::make_unique<MatrixFigure>(m_attention->model());
    if (view == "mask") figure = std::make_unique<MatrixFigure>(m_mask->model());
    if (view == "grid") figure = std::make_unique<HeadGridFigure>(m_grid->model());
    if (view == "timeline") figure = std::make_unique<TimelineFigure>(m_timeline->model());
    if (view == "diff") figure = std::make_unique<DiffFigure>(m_diff->model());
    if (view == "sweep") figure = std::make_unique<SweepFigure>(m_sweep->model());
    if (!figure) {
        *error = QStringLiteral("unknown view '%1'").arg(QString::fromStdString(view));
        return false;
    }
    return writeFigure(*figure, file, options, error, size);
}

void MainWindow::exportFigures() {
    FigureOptions options;
    options.size = m_options.figure_size;
    options.dpi = m_options.figure_dpi;
    options.max_vector_cells = m_options.figure_vector_cells;
    for (const FigureRequest& f : m_options.figures) {
        QString error;
        QSize size;
        const QString file = QString::fromStdString(f.file);
        if (!exportFigure(f.view, file, options, &error, &size)) {
            m_errors.push_back("--export-figure " + f.view + ": " + error.toStdString());
            continue;
        }
        m_figures_written.emplace_back(f, size);
        statusBar()->showMessage(tr("Wrote %1").arg(file), 5000);
    }
}

void MainWindow::showExportDialog() {
    QStringList views;
    for (const char* v : kFigureViews) views << QString::fromLatin1(v);
    FigureOptions defaults;
    defaults.size = m_options.figure_size;
    defaults.dpi = m_options.figure_dpi;
    defaults.max_vector_cells = m_options.figure_vector_cells;
    // The view the user was working in is preselected.
    QString current = QStringLiteral("attention");
    const QWidget* focus = QApplication::focusWidget();
    const std::pair<QWidget*, const char*> candidates[] = {
        {m_mask, "mask"}, {m_grid, "grid"}, {m_timeline, "timeline"}, {m_diff, "diff"}, {m_sweep, "sweep"}};
    for (const auto& [widget, name] : candidates)
        if (focus && (focus == widget || widget->isAncestorOf(focus))) current = QString::fromLatin1(name);
    const QString dir = m_last_figure_dir.isEmpty() ? QDir::homePath() : m_last_figure_dir;
    FigureExportDialog dialog(views, current, defaults, QDir(dir).filePath(current + QStringLiteral(".pdf")), this);
    if (dialog.exec() != QDialog::Accepted) return;
    QString error;
    QSize size;
    if (!exportFigure(dialog.view().toStdString(), dialog.path(), dialog.options(), &error, &size)) {
        QMessageBox::warning(this, tr("Export figure"), tr("Could not export the figure:\n%1").arg(error));
        return;
    }
    m_last_figure_dir = QFileInfo(dialog.path()).absolutePath();
    statusBar()->showMessage(tr("Wrote %1").arg(dialog.path()), 5000);
}

void MainWindow::finishAutomation() {
    if (m_is_automation_done) return;
    m_is_automation_done = true;
    if (!m_options.screenshot_file.empty()) {
        // Let the window paint the new results before taking its picture.
        QApplication::processEvents();
        QImage shot = grab().toImage();
        if (shot.isNull() || !shot.save(QString::fromStdString(m_options.screenshot_file), "PNG"))
            m_errors.push_back("--screenshot: cannot write " + m_options.screenshot_file);
    }
    if (!m_options.is_quit_when_done) return;
    using Json = nlohmann::json;
    Json model{{"dir", m_model.dir}, {"loaded", m_model.is_ok}};
    if (m_model.is_ok) {
        model["architecture"] = m_model.info.architecture;
        model["layers"] = m_model.info.layers;
        model["heads"] = m_model.info.heads;
        model["kv_heads"] = m_model.info.kv_heads;
        model["device"] = m_model.info.device;
        model["dtype"] = m_model.info.dtype;
    } else if (m_has_model_answer) {
        model["error"] = m_model.error;
    }
    Json figures = Json::array();
    for (const auto& [f, size] : m_figures_written)
        figures.push_back({{"view", f.view}, {"file", f.file}, {"width", size.width()}, {"height", size.height()}});
    Json summary{{"ok", m_errors.empty()},
                 {"model", model},
                 {"columns", m_results->summary()},
                 {"figures", figures},
                 {"errors", m_errors},
                 {"notes", m_notes}};
    if (m_data) {
        summary["input"] = {{"prompt_tokens", m_data->prompt_tokens.size()},
                            {"task", m_data->task_spec},
                            {"answer", m_data->answer}};
        summary["views"] = {{"attention", m_attention->model().matrix() != nullptr},
                            {"mask", m_mask->model().matrix() != nullptr},
                            {"mask_has_kept_set", !m_mask->model().keptMask().empty()}};
    }
    if (m_has_outcome) summary["wall_ms"] = m_last_outcome.wall_ms;
    summary["session"] = m_sessions->summary();
    if (m_options.open_run > 0) summary["opened_run"] = m_options.open_run;
    std::cout << summary.dump() << std::endl;
    Q_EMIT automationFinished(m_errors.empty() ? 0 : 1);
}

}  // namespace attnlab
