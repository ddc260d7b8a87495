#include "app/gui/command_line.h"

#include <QCommandLineParser>
#include <QFileInfo>
#include <algorithm>

#include "app/gui/session_diff.h"
#include "core/analysis/budget_sweep.h"

namespace attnlab {

namespace {

bool parseInt(const QString& text, int64_t& out) {
    bool ok = false;
    const qlonglong v = text.toLongLong(&ok);
    if (ok) out = v;
    return ok;
}

}  // namespace

ParsedCommandLine parseCommandLine(const QStringList& arguments) {
    ParsedCommandLine parsed;
    QCommandLineParser p;
    p.setApplicationDescription(QStringLiteral("attnlab: a workbench for attention in transformers"));
    const QCommandLineOption help(QStringList{QStringLiteral("h"), QStringLiteral("help")},
                                  QStringLiteral("Show this help."));
    const QCommandLineOption model(QStringLiteral("model"),
                                   QStringLiteral("Checkpoint directory (default: the bundled demo model)."),
                                   QStringLiteral("DIR"));
    const QCommandLineOption session(QStringLiteral("session"),
                                     QStringLiteral("Session file every run is saved to (created if missing; default: "
                                                    "attnlab/sessions/default.attnlab in the user's data folder)."),
                                     QStringLiteral("FILE"));
    const QCommandLineOption prompt(QStringLiteral("prompt"), QStringLiteral("Free prompt."), QStringLiteral("TEXT"));
    const QCommandLineOption task(QStringLiteral("task"),
                                  QStringLiteral("Task instance, e.g. needle:length=512,depth=0.5,seed=0."),
                                  QStringLiteral("SPEC"));
    const QCommandLineOption strategy(QStringLiteral("strategy"),
                                      QStringLiteral("Strategy to run, e.g. streaming:budget=25%,sink=4 (repeatable)."),
                                      QStringLiteral("SPEC"));
    const QCommandLineOption run(QStringLiteral("run"), QStringLiteral("Run the comparison once the model is loaded."));
    const QCommandLineOption open_run(QStringLiteral("open-run"),
                                      QStringLiteral("Show saved run ID of the session (its whole comparison) "
                                                     "without recomputing; --export-figure draws it."),
                                      QStringLiteral("ID"));
    const QCommandLineOption figure(QStringLiteral("export-figure"),
                                    QStringLiteral("After the run, draw VIEW (attention, mask, grid, timeline, diff, sweep) into a "
                                                   "figure; the extension picks PNG, SVG or PDF (repeatable)."),
                                    QStringLiteral("VIEW:FILE.{png,svg,pdf}"));
    const QCommandLineOption quit(QStringLiteral("quit-when-done"),
                                  QStringLiteral("Quit after the run and exports; print a one-line JSON summary."));
    const QCommandLineOption head(QStringLiteral("head"), QStringLiteral("Layer and query head the views show."),
                                  QStringLiteral("LAYER:HEAD"));
    const QCommandLineOption tokens(QStringLiteral("max-new-tokens"),
                                    QStringLiteral("New tokens for a free prompt (tasks bring their own)."),
                                    QStringLiteral("N"));
    const QCommandLineOption device(QStringLiteral("device"), QStringLiteral("cpu or cuda[:N]."), QStringLiteral("DEV"),
                                    QStringLiteral("cpu"));
    const QCommandLineOption dtype(QStringLiteral("dtype"), QStringLiteral("f32, bf16 or f16."), QStringLiteral("T"));
    const QCommandLineOption size(QStringLiteral("figure-size"),
                                  QStringLiteral("Figure size in 1/96 inch, the PNG's pixels at 96 DPI (900x700)."),
                                  QStringLiteral("WxH"));
    const QCommandLineOption dpi(QStringLiteral("figure-dpi"),
                                 QStringLiteral("PNG resolution (96); SVG and PDF keep their size in inches."),
                                 QStringLiteral("N"));
    const QCommandLineOption vector_cells(
        QStringLiteral("figure-vector-cells"),
        QStringLiteral("SVG/PDF heatmaps with at most N drawn cells are one rectangle per cell, larger ones one "
                       "embedded image (40000; 0: always an image)."),
        QStringLiteral("N"));
    const QCommandLineOption diff_runs(QStringLiteral("diff-runs"),
                                       QStringLiteral("Runs the diff view compares, B minus A, by their order in the "
                                                      "comparison from 0 (default: first and last)."),
                                       QStringLiteral("A:B"));
    const QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                        QStringLiteral("When done, save a picture of the whole window."),
                                        QStringLiteral("FILE.png"));
    const QCommandLineOption long_attention(
        QStringLiteral("long-attention"),
        QStringLiteral("Open a long-context attention capture (one head's queries/keys, .safetensors) in its dock."),
        QStringLiteral("FILE"));
    const QCommandLineOption diff_across(
        QStringLiteral("diff"),
        QStringLiteral("Show B minus A of two saved runs in the Difference dock: runs of any session files and "
                       "models, on the same prompt token ids (a side without FILE: the current session)."),
        QStringLiteral("FILE_A#RUN:FILE_B#RUN"));
    const QCommandLineOption sweep_json(
        QStringLiteral("sweep-json"),
        QStringLiteral("Chart sweep results (attnlab-cli sweep --out) or quality-benchmark JSON in the Budget sweep dock."),
        QStringLiteral("FILE"));
    const QCommandLineOption sweep_budgets(
        QStringLiteral("sweep-budgets"),
        QStringLiteral("With --run: run every checked strategy that has a budget at each of these budgets "
                       "(e.g. 10%,25%,50%), full as the reference; the Budget sweep dock charts them."),
        QStringLiteral("LIST"));
    for (const auto* o : {&help, &model, &session, &prompt, &task, &strategy, &run, &open_run, &figure, &quit, &head, &tokens,
                          &device, &dtype, &size, &dpi, &vector_cells, &diff_runs, &screenshot, &long_attention,
                          &diff_across, &sweep_json, &sweep_budgets})
        p.addOption(*o);
    parsed.help = p.helpText().toStdString();

    auto fail = [&](const QString& message) {
        parsed.error = message.toStdString();
        return parsed;
    };
    if (!p.parse(arguments)) return fail(p.errorText());
    if (p.isSet(help)) {
        parsed.is_help = true;
        parsed.is_ok = true;
        return parsed;
    }
    if (!p.positionalArguments().isEmpty())
        return fail(QStringLiteral("unexpected argument '%1'").arg(p.positionalArguments().front()));
    AppOptions& o = parsed.options;
    o.model_dir = p.value(model).toStdString();
    o.session_file = p.value(session).toStdString();
    if (p.isSet(prompt) && p.isSet(task)) return fail(QStringLiteral("give at most one of --prompt and --task"));
    o.prompt = p.value(prompt).toStdString();
    o.task_spec = p.value(task).toStdString();
    if (p.isSet(prompt) && o.prompt.empty()) return fail(QStringLiteral("--prompt is empty"));
    for (const QString& s : p.values(strategy)) o.strategies.push_back(s.toStdString());
    o.is_run = p.isSet(run);
    o.long_attention_file = p.value(long_attention).toStdString();
    o.is_quit_when_done = p.isSet(quit);
    for (const QString& f : p.values(figure)) {
        const int colon = f.indexOf(QLatin1Char(':'));
        if (colon <= 0 || colon == f.size() - 1)
            return fail(QStringLiteral("--export-figure needs VIEW:FILE.png|svg|pdf, got '%1'").arg(f));
        FigureRequest r{f.left(colon).toStdString(), f.mid(colon + 1).toStdString()};
        if (r.view == "heads") r.view = "grid";
        if (std::none_of(std::begin(kFigureViews), std::end(kFigureViews), [&](const char* v) { return r.view == v; }))
            return fail(QStringLiteral("--export-figure: unknown view '%1' (attention, mask, grid, timeline, diff, sweep)")
                            .arg(QString::fromStdString(r.view)));
        const QString suffix = QFileInfo(f.mid(colon + 1)).suffix().toLower();
        if (suffix != QLatin1String("png") && suffix != QLatin1String("svg") && suffix != QLatin1String("pdf"))
            return fail(QStringLiteral("--export-figure: '%1' is not a .png, .svg or .pdf file").arg(f.mid(colon + 1)));
        o.figures.push_back(r);
    }
    if (p.isSet(open_run) && (!parseInt(p.value(open_run), o.open_run) || o.open_run <= 0))
        return fail(QStringLiteral("--open-run needs a run id (a positive integer), got '%1'").arg(p.value(open_run)));
    if (o.open_run > 0 && o.is_run) return fail(QStringLiteral("give at most one of --run and --open-run"));
    o.diff_runs_across = p.value(diff_across).toStdString();
    if (p.isSet(diff_across)) {
        auto request = parseDiffRuns(o.diff_runs_across);
        if (!request) return fail(QString::fromStdString(request.error()));
        if (o.is_run || o.open_run > 0)
            return fail(QStringLiteral("--diff shows two saved runs in the Difference dock; give it without --run "
                                       "and --open-run (they fill the same dock)"));
        if (p.isSet(diff_runs)) return fail(QStringLiteral("give at most one of --diff and --diff-runs"));
    }
    o.sweep_json_file = p.value(sweep_json).toStdString();
    if (p.isSet(sweep_json) && (o.is_run || o.open_run > 0))
        return fail(QStringLiteral("--sweep-json charts saved results in the Budget sweep dock; give it without --run "
                                   "and --open-run (they fill the same dock)"));
    o.sweep_budgets = p.value(sweep_budgets).toStdString();
    if (p.isSet(sweep_budgets)) {
        auto list = parseBudgetList(o.sweep_budgets);
        if (!list) return fail(QStringLiteral("--sweep-budgets: %1").arg(QString::fromStdString(list.error())));
        if (!o.is_run) return fail(QStringLiteral("--sweep-budgets runs a sweep: add --run"));
    }
    // Each figure needs something to draw: a run, or the saved results --diff / --sweep-json bring.
    for (const FigureRequest& f : o.figures) {
        const bool is_fed = o.is_run || o.open_run > 0 || (f.view == "diff" && !o.diff_runs_across.empty()) ||
                            (f.view == "sweep" && !o.sweep_json_file.empty());
        if (is_fed) continue;
        if (f.view == "diff")
            return fail(QStringLiteral("--export-figure diff draws two runs: add --run, --open-run ID or --diff A#RUN:B#RUN"));
        if (f.view == "sweep")
            return fail(QStringLiteral("--export-figure sweep draws a sweep: add --run (with --sweep-budgets), "
                                       "--open-run ID or --sweep-json FILE"));
        return fail(QStringLiteral("--export-figure draws a run's results: add --run or --open-run ID"));
    }
    if (p.isSet(head)) {
        const QStringList parts = p.value(head).split(QLatin1Char(':'));
        if (parts.size() != 2 || !parseInt(parts[0], o.layer) || !parseInt(parts[1], o.head) || o.layer < 0 ||
            o.head < 0)
            return fail(QStringLiteral("--head needs LAYER:HEAD (non-negative integers), got '%1'").arg(p.value(head)));
    }
    if (p.isSet(tokens) && (!parseInt(p.value(tokens), o.max_new_tokens) || o.max_new_tokens < 0))
        return fail(QStringLiteral("--max-new-tokens needs a non-negative integer, got '%1'").arg(p.value(tokens)));
    o.device = p.value(device).toStdString();
    o.dtype = p.value(dtype).toStdString();
    if (p.isSet(size)) {
        const QStringList parts = p.value(size).toLower().split(QLatin1Char('x'));
        int64_t w = 0, h = 0;
        if (parts.size() != 2 || !parseInt(parts[0], w) || !parseInt(parts[1], h) || w < 64 || h < 64 || w > 8192 ||
            h > 8192)
            return fail(QStringLiteral("--figure-size needs WxH between 64 and 8192, got '%1'").arg(p.value(size)));
        o.figure_size = QSize(static_cast<int>(w), static_cast<int>(h));
    }
    if (p.isSet(dpi)) {
        bool is_number = false;
        o.figure_dpi = p.value(dpi).toDouble(&is_number);
        if (!is_number || o.figure_dpi < 10 || o.figure_dpi > 2400)
            return fail(QStringLiteral("--figure-dpi needs a number between 10 and 2400, got '%1'").arg(p.value(dpi)));
    }
    if (p.isSet(vector_cells)) {
        int64_t n = -1;
        if (!parseInt(p.value(vector_cells), n) || n < 0 || n > 100000000)
            return fail(QStringLiteral("--figure-vector-cells needs a number of cells (0 or more), got '%1'")
                            .arg(p.value(vector_cells)));
        o.figure_vector_cells = static_cast<int>(n);
    }
    if (p.isSet(diff_runs)) {
        const QStringList parts = p.value(diff_runs).split(QLatin1Char(':'));
        int64_t a = -1, b = -1;
        if (parts.size() != 2 || !parseInt(parts[0], a) || !parseInt(parts[1], b) || a < 0 || b < 0 || a > 1000 ||
            b > 1000)
            return fail(QStringLiteral("--diff-runs needs A:B (run numbers from 0), got '%1'").arg(p.value(diff_runs)));
        o.diff_run_a = static_cast<int>(a);
        o.diff_run_b = static_cast<int>(b);
    }
    o.screenshot_file = p.value(screenshot).toStdString();
    parsed.is_ok = true;
    return parsed;
}

std::string sessionFromRawArguments(int argc, const char* const* argv) {
    std::string found;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i] ? argv[i] : "";
        if ((a == "--session" || a == "-session") && i + 1 < argc) {
            found = argv[++i];
        } else if (a.rfind("--session=", 0) == 0) {
            found = a.substr(10);
        } else if (a == "--") {
            break;
        }
    }
    return found;
}

}  // namespace attnlab
