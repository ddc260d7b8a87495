// attnlab's command line, so figures can be made from scripts and the GUI tested end to end:
//   attnlab [--model DIR] [--session FILE] [--prompt TEXT | --task SPEC] [--strategy SPEC]...
//           [--run | --open-run ID] [--export-figure VIEW:FILE.{png,svg,pdf}]... [--quit-when-done]
// plus --head LAYER:HEAD, --max-new-tokens N, --device, --dtype, --figure-size WxH, --figure-dpi N,
// --figure-vector-cells N, --diff-runs A:B, --screenshot FILE, --long-attention FILE (a long-context capture),
// --diff SESSION_A#RUN:SESSION_B#RUN (two saved runs, any sessions or models), --sweep-json FILE and
// --sweep-budgets LIST (the budget-sweep dock).
#pragma once

#include <QSize>
#include <QStringList>
#include <string>
#include <vector>

namespace attnlab {

struct FigureRequest {
    std::string view;  // one of kFigureViews
    std::string file;
};

struct AppOptions {
    std::string model_dir;  // empty = the default model
    std::string session_file;  // empty = the default session (defaultSessionPath())
    int64_t open_run = -1;     // --open-run: show this saved run of the session instead of running
    std::string prompt;
    std::string task_spec;
    std::vector<std::string> strategies;
    bool is_run = false;
    bool is_quit_when_done = false;
    std::vector<FigureRequest> figures;
    int64_t layer = -1;  // -1: leave the views' selection alone
    int64_t head = -1;
    int64_t max_new_tokens = -1;
    std::string device = "cpu";
    std::string dtype;
    QSize figure_size{900, 700};  // figure layout in 1/96 inch; a PNG has figure_size * figure_dpi / 96 pixels
    double figure_dpi = 96;
    int figure_vector_cells = 40000;  // heatmaps with more drawn cells go into SVG/PDF as one image
    int diff_run_a = -1;  // --diff-runs A:B (comparison order, from 0); -1: first and last run
    int diff_run_b = -1;
    std::string screenshot_file;
    std::string long_attention_file;  // --long-attention: a capture of core/analysis/long_attention.h
    std::string diff_runs_across;     // --diff A#RUN:B#RUN (app/gui/session_diff.h), checked at parse time
    std::string sweep_json_file;      // --sweep-json: sweep or quality-benchmark results for the sweep dock
    std::string sweep_budgets;        // --sweep-budgets: with --run, every checked strategy at each budget
};

constexpr const char* kFigureViews[] = {"attention", "mask", "grid", "timeline", "diff", "sweep"};

struct ParsedCommandLine {
    bool is_ok = false;
    bool is_help = false;
    std::string error;  // one line
    std::string help;
    AppOptions options;
};

// arguments[0] is the program name, as QCoreApplication::arguments() gives them.
ParsedCommandLine parseCommandLine(const QStringList& arguments);

// QGuiApplication takes `-session ID` / `--session ID` (X11 session management) out of the arguments
// it hands on, so read --session FILE from argv before the QApplication exists. "" when not given.
std::string sessionFromRawArguments(int argc, const char* const* argv);

}  // namespace attnlab
