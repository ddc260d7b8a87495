#include "views/figure/export_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>

namespace attnlab {

FigureExportDialog::FigureExportDialog(const QStringList& views, const QString& current, const FigureOptions& defaults,
                                       const QString& default_path, QWidget* parent)
    : QDialog(parent) {
    setWindowTitle(tr("Export figure"));
    auto* form = new QFormLayout(this);
    m_view = new QComboBox(this);
    m_view->addItems(views);
    m_view->setCurrentText(current);
    form->addRow(tr("View"), m_view);
    auto* file_row = new QHBoxLayout();
    m_path = new QLineEdit(default_path, this);
    m_path->setObjectName(QStringLiteral("figurePath"));
    m_path->setToolTip(tr("The extension picks the format: .png, .svg or .pdf"));
    auto* browse_button = new QPushButton(tr("Browse…"), this);
    file_row->addWidget(m_path, 1);
    file_row->addWidget(browse_button);
    form->addRow(tr("File"), file_row);
    auto* size_row = new QHBoxLayout();
    m_width = new QSpinBox(this);
    m_height = new QSpinBox(this);
    for (QSpinBox* s : {m_width, m_height}) {
        s->setRange(64, 8192);
        s->setSuffix(tr(" px"));
    }
    m_width->setValue(defaults.size.width());
    m_height->setValue(defaults.size.height());
    size_row->addWidget(m_width);
    size_row->addWidget(new QLabel(QStringLiteral("×"), this));
    size_row->addWidget(m_height);
    form->addRow(tr("Size (1/96 inch)"), size_row);
    m_dpi = new QDoubleSpinBox(this);
    m_dpi->setRange(10, 2400);
    m_dpi->setDecimals(0);
    m_dpi->setValue(defaults.dpi);
    m_dpi->setToolTip(tr("PNG resolution; SVG and PDF are vector and keep the size in inches"));
    form->addRow(tr("PNG DPI"), m_dpi);
    m_vector_cells = new QSpinBox(this);
    m_vector_cells->setRange(0, 100000000);
    m_vector_cells->setSingleStep(10000);
    m_vector_cells->setValue(defaults.max_vector_cells);
    m_vector_cells->setToolTip(tr("SVG/PDF heatmaps with more drawn cells are embedded as one image"));
    form->addRow(tr("Vector cells up to"), m_vector_cells);
    m_caption = new QCheckBox(tr("Caption with the run spec"), this);
    m_caption->setChecked(defaults.show_caption);
    form->addRow(QString(), m_caption);
    m_dark = new QCheckBox(tr("Dark background (as on screen)"), this);
    m_dark->setChecked(defaults.is_dark);
    form->addRow(QString(), m_dark);
    m_note = new QLabel(this);
    m_note->setWordWrap(true);
    form->addRow(m_note);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    m_ok = buttons->button(QDialogButtonBox::Ok);
    m_ok->setText(tr("Export"));
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(browse_button, &QPushButton::clicked, this, &FigureExportDialog::browse);
    connect(m_path, &QLineEdit::textChanged, this, &FigureExportDialog::validate);
    validate();
}

QString FigureExportDialog::view() const { return m_view->currentText(); }
QString FigureExportDialog::path() const { return m_path->text().trimmed(); }

FigureOptions FigureExportDialog::options() const {
    FigureOptions o;
    o.size = QSize(m_width->value(), m_height->value());
    o.dpi = m_dpi->value();
    o.max_vector_cells = m_vector_cells->value();
    o.show_caption = m_caption->isChecked();
    o.is_dark = m_dark->isChecked();
    return o;
}

void FigureExportDialog::browse() {
    const QString file = QFileDialog::getSaveFileName(this, tr("Export figure"), path(),
                                                      tr("PDF (*.pdf);;SVG (*.svg);;PNG (*.png)"));
    if (!file.isEmpty()) m_path->setText(file);
}

void FigureExportDialog::validate() {
    const std::optional<FigureFormat> format = figureFormatForPath(path());
    m_ok->setEnabled(format.has_value());
    if (!format) {
        m_note->setText(tr("Name a .png, .svg or .pdf file."));
    } else if (*format == FigureFormat::Png) {
        m_note->setText(tr("PNG: a raster image at the DPI above."));
    } else {
        m_note->setText(tr("%1: vector text, axes and colour bar; heatmaps as vector cells up to the count above.")
                            .arg(QString::fromLatin1(figureFormatName(*format)).toUpper()));
    }
}

}  // namespace attnlab
