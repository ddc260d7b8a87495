// File > Export figure…: which view, where (the extension picks PNG, SVG or PDF), size, DPI,
// caption and background. The window draws the chosen view's figure with writeFigure().
// GUI thread only.
#pragma once

#include <QDialog>
#include <QStringList>

#include "views/figure/figure.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace attnlab {

class FigureExportDialog : public QDialog {
    Q_OBJECT

public:
    // `views`: names the window can export ("attention", "mask", ...), `current` preselected.
    FigureExportDialog(const QStringList& views, const QString& current, const FigureOptions& defaults,
                       const QString& default_path, QWidget* parent = nullptr);

    QString view() const;
    QString path() const;
    FigureOptions options() const;

private:
    void browse();
    void validate();

    QComboBox* m_view = nullptr;
    QLineEdit* m_path = nullptr;
    QSpinBox* m_width = nullptr;
    QSpinBox* m_height = nullptr;
    QDoubleSpinBox* m_dpi = nullptr;
    QSpinBox* m_vector_cells = nullptr;
    QCheckBox* m_caption = nullptr;
    QCheckBox* m_dark = nullptr;
    QLabel* m_note = nullptr;
    QPushButton* m_ok = nullptr;
};

}  // namespace attnlab
