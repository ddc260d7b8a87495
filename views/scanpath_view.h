// Scanpath view (issue 9), a dock of the app: generate a search display (seed, regime, set size,
// target present/absent), see the OAT-lite model's scanpath beside a simulated subject's, step
// through the model's fixations with the pointer distribution as a heat overlay and its attention
// over object tokens; export through the figure renderer (PNG/SVG/PDF). QPainter via
// ScanpathFigure. GUI thread only; the model loads when the view is first shown.
#pragma once

#include <QWidget>
#include <memory>

#include "views/figure/figure.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QPushButton;
class QSlider;
class QSpinBox;

namespace attnlab {

class ScanpathViewModel;
class ScanpathFigure;

class ScanpathCanvas : public QWidget {
public:
    ScanpathCanvas(const ScanpathFigure& figure, QWidget* parent);

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    const ScanpathFigure& m_figure;
};

class ScanpathView : public QWidget {
    Q_OBJECT

public:
    explicit ScanpathView(const QString& exe_dir = QString(), QWidget* parent = nullptr);
    ~ScanpathView() override;

    bool loadModel(const QString& dir, QString* error = nullptr);
    ScanpathViewModel& model() { return *m_model; }
    const Figure& figure() const;
    bool exportFigure(const QString& path, const FigureOptions& options, QString* error);
    ScanpathCanvas* canvas() const { return m_canvas; }

    // Regenerates from the controls' values.
    bool generate(QString* error = nullptr);
    void setSeed(int seed);
    void stepForward();
    void stepBack();

protected:
    void showEvent(QShowEvent* event) override;

private:
    void sync();

    std::unique_ptr<ScanpathViewModel> m_model;
    std::unique_ptr<ScanpathFigure> m_figure;
    QString m_exe_dir;
    bool m_tried_default = false;
    ScanpathCanvas* m_canvas = nullptr;
    QSpinBox* m_seed = nullptr;
    QComboBox* m_regime = nullptr;
    QSpinBox* m_set_size = nullptr;
    QCheckBox* m_absent = nullptr;
    QComboBox* m_decode = nullptr;
    QSpinBox* m_subject = nullptr;
    QSlider* m_step = nullptr;
    QLabel* m_status = nullptr;
};

}  // namespace attnlab
