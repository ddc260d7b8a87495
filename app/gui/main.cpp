// attnlab: the desktop workbench. Everything it runs, attnlab-cli can run too; this adds the
// views. See command_line.h for the scriptable options.
#include <QApplication>
#include <QSurfaceFormat>
#include <QTimer>
#include <iostream>


#include "app/gui/command_line.h"
#include "app/gui/main_window.h"
#include "core/util/files.h"

namespace {

std::string exePath(const char* argv0) { return attnlab::executablePath(argv0); }

}  // namespace

int main(int argc, char** argv) {
    // Before the QApplication: floating a dock must not recreate the canvases' GL contexts.
    QApplication::setAttribute(Qt::AA_ShareOpenGLContexts);
    QSurfaceFormat format;
    format.setDepthBufferSize(0);
    format.setStencilBufferSize(0);
    format.setSwapInterval(1);
    QSurfaceFormat::setDefaultFormat(format);
    const std::string session_file = attnlab::sessionFromRawArguments(argc, argv);  // Qt takes --session
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("attnlab"));
    QApplication::setOrganizationName(QStringLiteral("attnlab"));

    attnlab::ParsedCommandLine parsed = attnlab::parseCommandLine(QApplication::arguments());
    if (parsed.options.session_file.empty()) parsed.options.session_file = session_file;
    if (parsed.is_help) {
        std::cout << parsed.help;
        return 0;
    }
    if (!parsed.is_ok) {
        std::cerr << "attnlab: " << parsed.error << "\n";
        return 2;
    }
    attnlab::MainWindow window(parsed.options, exePath(argv[0]));
    int exit_code = 0;
    QObject::connect(&window, &attnlab::MainWindow::automationFinished, &app, [&](int code) {
        exit_code = code;
        QTimer::singleShot(0, &app, [&app, code] { app.exit(code); });
    });
    window.show();
    window.start();
    const int rc = app.exec();
    return rc != 0 ? rc : exit_code;
}
