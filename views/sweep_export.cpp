#include "views/sweep_export.h"

#include <QGuiApplication>
#include <memory>

#include "views/figure/figure.h"
#include "views/sweep_figure.h"
#include "views/sweep_model.h"

namespace attnlab {

bool exportSweepFigure(const SweepResult& result, const std::string& path, const SweepFigureRequest& request,
                       std::string* error) {
    SweepModel model;
    model.setResult(std::make_shared<const SweepResult>(result));
    SweepMetric quality = SweepMetric::Accuracy, time = SweepMetric::DecodeMs;
    if (request.quality_metric != "auto") {
        if (!parseSweepMetric(request.quality_metric, &quality) ||
            (quality != SweepMetric::Accuracy && quality != SweepMetric::Kl && quality != SweepMetric::Top1)) {
            *error = "unknown quality metric '" + request.quality_metric + "' (accuracy, kl, top1)";
            return false;
        }
        model.setQualityMetric(quality);
    }
    if (!parseSweepMetric(request.time_metric, &time) || (time != SweepMetric::DecodeMs && time != SweepMetric::PrefillMs)) {
        *error = "unknown time metric '" + request.time_metric + "' (decode, prefill)";
        return false;
    }
    model.setTimeMetric(time);
    // Fonts need a QGuiApplication; a command-line caller has none (offscreen: no display needed).
    std::unique_ptr<QGuiApplication> app;
    if (!QGuiApplication::instance()) {
        if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
        static int argc = 1;
        static char name[] = "attnlab-cli";
        static char* argv[] = {name, nullptr};
        app = std::make_unique<QGuiApplication>(argc, argv);
    }
    FigureOptions options;
    options.size = QSize(request.width, request.height);
    options.dpi = request.dpi;
    SweepFigure figure(model);
    QString message;
    if (!writeFigure(figure, QString::fromStdString(path), options, &message)) {
        *error = message.toStdString();
        return false;
    }
    return true;
}

}  // namespace attnlab
