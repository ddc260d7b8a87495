// Scene layout view (issue 10), a dock of the app: plan a layout with the planner (seeded), watch it
// drawn one object at a time in depth order, see amodal vs visible masks, depth, the rendered image
// and per-layer token->pixel attention; select an object (click), move it (drag), delete it (Del or
// the button) or recolour it, and the scene re-renders. Drawn with QPainter through SceneFigure, so
// the screen and the PNG/SVG/PDF exports are the same picture. GUI thread only.
#pragma once

#include <QWidget>
#include <memory>

#include "views/figure/figure.h"

class QComboBox;
class QLabel;
class QPushButton;
class QSlider;
class QSpinBox;
class QTimer;

namespace attnlab {

class SceneLayoutModel;
class SceneFigure;
class SceneCanvas;

class SceneView : public QWidget {
    Q_OBJECT

public:
    // exe_dir: where to look for assets/models/scene (see SceneLayoutModel::findDefaultModelDir).
    explicit SceneView(const QString& exe_dir = QString(), QWidget* parent = nullptr);
    ~SceneView() override;

    // Loads a model now (else the default one is loaded the first time the view is shown).
    bool loadModel(const QString& dir, QString* error = nullptr);
    SceneLayoutModel& model() { return *m_model; }
    const Figure& figure() const;
    // Writes the figure (.png, .svg or .pdf).
    bool exportFigure(const QString& path, const FigureOptions& options, QString* error);
    SceneCanvas* canvas() const { return m_canvas; }

    void plan(int seed);
    void refresh();  // after changing the model directly

Q_SIGNALS:
    void rendered(double milliseconds);

protected:
    void showEvent(QShowEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;

private:
    void syncControls();
    void showExportDialog();

    std::unique_ptr<SceneLayoutModel> m_model;
    std::unique_ptr<SceneFigure> m_figure;
    QString m_exe_dir;
    bool m_tried_default = false;
    SceneCanvas* m_canvas = nullptr;
    QSpinBox* m_seed = nullptr;
    QSlider* m_step = nullptr;
    QComboBox* m_layer = nullptr;
    QComboBox* m_masks = nullptr;
    QComboBox* m_colour = nullptr;
    QPushButton* m_delete = nullptr;
    QPushButton* m_play = nullptr;
    QLabel* m_status = nullptr;
    QTimer* m_play_timer = nullptr;
    int m_last_render_count = -1;
};

// The drawing surface: paints the figure body; click selects, drag moves, clicks on the drawing
// order or on an attention tile pick a step or an object.
class SceneCanvas : public QWidget {
    Q_OBJECT

public:
    SceneCanvas(SceneLayoutModel& model, const SceneFigure& figure, QWidget* parent);
    // The body's area in widget coordinates and the figure style used on screen.
    QRectF bodyRect() const;
    double fontPx() const { return 12; }
    // Widget point of image pixel (x, y) in panel `panel` (0 = rendered image).
    QPointF pointOfPixel(int panel, double x, double y) const;

Q_SIGNALS:
    void edited();

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;

private:
    // Panel index and 64x64 pixel under a widget point; -1 if none.
    int panelAt(const QPointF& p, double* x, double* y) const;

    SceneLayoutModel& m_model;
    const SceneFigure& m_figure;
    bool m_dragging = false;
    QPointF m_drag_offset;  // token base point - pressed pixel
    QPointF m_drag_now;
    int m_drag_panel = -1;
};

}  // namespace attnlab
