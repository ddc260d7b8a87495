// The long-context attention dock (issue 7): one head of a long prompt, drawn from its pooled
// pyramid with exact tiles for what is on screen, zoom (wheel) and pan (drag), a hover readout
// (query, key, exact weight) and max/mean pooling and log/linear pickers. A viewer of one capture
// file; tiles are computed on a worker thread (latest request wins). GUI thread only.
#pragma once

#include <QWidget>
#include <memory>
#include <string>

#include "core/util/result.h"

class QComboBox;
class QLabel;

namespace attnlab {

struct LongAttentionCapture;
struct AttentionPyramid;
class LongAttentionModel;
class LongAttentionTileWorker;
class LongAttentionCanvas;

class LongAttentionView : public QWidget {
    Q_OBJECT

public:
    explicit LongAttentionView(QWidget* parent = nullptr);
    ~LongAttentionView() override;

    // Loads a capture file (core/analysis/long_attention.h); builds the pyramid when the file has none.
    Status openFile(const std::string& path);
    void setData(std::shared_ptr<const LongAttentionCapture> capture, std::shared_ptr<const AttentionPyramid> pyramid,
                 const QString& title);

    LongAttentionModel& model();
    LongAttentionCanvas* canvas() const { return m_canvas; }
    // Milliseconds of the last paint (render into the image + blit), and of the last tile computed.
    double lastFrameMs() const;
    double lastTileMs() const;
    int tilesReceived() const;

Q_SIGNALS:
    void tileArrived();

private:
    void updateReadout(double x_px, double y_px);

    std::unique_ptr<LongAttentionModel> m_model;
    std::unique_ptr<LongAttentionTileWorker> m_worker;
    LongAttentionCanvas* m_canvas = nullptr;
    QComboBox* m_pooling_box = nullptr;
    QComboBox* m_scale_box = nullptr;
    QLabel* m_title = nullptr;
    QLabel* m_readout = nullptr;
    double m_last_tile_ms = 0;
    int m_tiles_received = 0;
    friend class LongAttentionCanvas;
};

// The drawing surface: paints the model's image, turns wheel/drag into zoom/pan, asks the worker
// for the tile the new viewport needs.
class LongAttentionCanvas : public QWidget {
    Q_OBJECT

public:
    explicit LongAttentionCanvas(LongAttentionView* view);
    void zoomAt(double x_px, double y_px, double factor);
    void panBy(double dx_px, double dy_px);
    void resetView();
    double lastFrameMs() const { return m_last_frame_ms; }
    int framesPainted() const { return m_frames; }
    void requestTileIfNeeded();

protected:
    void paintEvent(QPaintEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;

private:
    LongAttentionView* m_view;
    QPointF m_drag_from;
    bool m_is_dragging = false;
    double m_last_frame_ms = 0;
    int m_frames = 0;
};

}  // namespace attnlab
