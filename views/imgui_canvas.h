// A Dear ImGui canvas inside a QOpenGLWidget: the Qt shell keeps menus, docks and tables; ImGui
// draws what it is good at (large heatmaps, overlays, hover inspectors). GUI thread only.
//
// Repaints only on input or requestRepaint() (no free-running timer); after an input event it
// draws a couple of extra frames so ImGui's one-frame-late interactions settle. Every canvas has
// its own ImGui context. The application must set Qt::AA_ShareOpenGLContexts before creating the
// QApplication, or floating a dock recreates the GL context.
//
// Heavy headers (imgui.h, GL) stay out of this header; subclasses draw in their .cpp with
// views/draw/canvas_frame.h.
#pragma once

#include <QImage>
#include <QOpenGLWidget>
#include <QString>
#include <memory>

namespace attnlab {

struct CanvasFrame;

class ImGuiCanvas : public QOpenGLWidget {
    Q_OBJECT

public:
    explicit ImGuiCanvas(QWidget* parent = nullptr);
    ~ImGuiCanvas() override;

    // New data: draw a frame soon.
    void requestRepaint();
    // Draws one picture of this canvas with the same drawing code into an offscreen framebuffer of
    // `size` pixels (device pixel ratio 1, not interactive), e.g. for figure export. Needs a
    // platform with OpenGL (xcb, also under Xvfb; not `offscreen`). Null image and *error on failure.
    QImage renderOffscreen(const QSize& size, QString* error);
    // Frames drawn on screen so far (tests check that idle canvases stay idle).
    int64_t framesDrawn() const;

protected:
    // Called inside an ImGui frame, inside a window that fills the canvas.
    virtual void drawCanvas(CanvasFrame& frame) = 0;

    void initializeGL() override;
    void paintGL() override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void keyReleaseEvent(QKeyEvent* event) override;
    void focusInEvent(QFocusEvent* event) override;
    void focusOutEvent(QFocusEvent* event) override;
    void leaveEvent(QEvent* event) override;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace attnlab
