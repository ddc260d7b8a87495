#include "views/scanpath_view.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QVBoxLayout>

#include "views/scanpath_figure.h"
#include "views/scanpath_model.h"

namespace attnlab {

ScanpathCanvas::ScanpathCanvas(const ScanpathFigure& figure, QWidget* parent) : QWidget(parent), m_figure(figure) {
    setMinimumSize(320, 260);
}

void ScanpathCanvas::paintEvent(QPaintEvent*) {
    QPainter p(this);
    FigureOptions options;
    options.is_dark = true;
    const FigureStyle style = FigureStyle::from(options);
    p.fillRect(rect(), style.background);
    const QString why = m_figure.emptyReason();
    if (!why.isEmpty()) {
        p.setPen(style.dim_text);
        p.drawText(rect(), Qt::AlignCenter, why);
        return;
    }
    m_figure.paintBody(p, QRectF(rect()).adjusted(8, 8, -8, -8), style);
}

ScanpathView::ScanpathView(const QString& exe_dir, QWidget* parent)
    : QWidget(parent), m_model(std::make_unique<ScanpathViewModel>()), m_exe_dir(exe_dir) {
    m_figure = std::make_unique<ScanpathFigure>(*m_model);
    auto* layout = new QVBoxLayout(this);
    auto* row = new QHBoxLayout();
    m_seed = new QSpinBox(this);
    m_seed->setRange(0, 1 << 30);
    m_seed->setValue(1);
    m_seed->setPrefix(tr("seed "));
    m_regime = new QComboBox(this);
    m_regime->addItems({QStringLiteral("feature"), QStringLiteral("conjunction"), QStringLiteral("configuration")});
    m_set_size = new QSpinBox(this);
    m_set_size->setRange(1, 64);
    m_set_size->setValue(16);
    m_set_size->setPrefix(tr("set size "));
    m_absent = new QCheckBox(tr("target absent"), this);
    m_decode = new QComboBox(this);
    m_decode->addItems({QStringLiteral("mbr"), QStringLiteral("greedy")});
    m_decode->setToolTip(tr("mbr: the consensus of 16 sampled paths under the sequence score; greedy: argmax"));
    auto* go = new QPushButton(tr("Generate"), this);
    m_subject = new QSpinBox(this);
    m_subject->setRange(0, 10);
    m_subject->setValue(1);
    m_subject->setPrefix(tr("subject "));
    m_subject->setSpecialValueText(tr("no subject"));
    for (QWidget* w : std::initializer_list<QWidget*>{m_seed, m_regime, m_set_size, m_absent, m_decode, go, m_subject})
        row->addWidget(w);
    row->addStretch(1);
    layout->addLayout(row);
    auto* steps = new QHBoxLayout();
    auto* back = new QPushButton(tr("◀ Step"), this);
    auto* fwd = new QPushButton(tr("Step ▶"), this);
    m_step = new QSlider(Qt::Horizontal, this);
    m_step->setRange(0, 0);
    auto* exp = new QPushButton(tr("Export figure…"), this);
    steps->addWidget(back);
    steps->addWidget(m_step, 1);
    steps->addWidget(fwd);
    steps->addWidget(exp);
    layout->addLayout(steps);
    m_canvas = new ScanpathCanvas(*m_figure, this);
    layout->addWidget(m_canvas, 1);
    m_status = new QLabel(this);
    m_status->setWordWrap(true);
    layout->addWidget(m_status);

    connect(go, &QPushButton::clicked, this, [this] { generate(); });
    connect(back, &QPushButton::clicked, this, &ScanpathView::stepBack);
    connect(fwd, &QPushButton::clicked, this, &ScanpathView::stepForward);
    connect(m_step, &QSlider::valueChanged, this, [this](int v) {
        if (v == m_model->step()) return;
        m_model->setStep(v);
        sync();
    });
    connect(m_subject, qOverload<int>(&QSpinBox::valueChanged), this, [this](int v) {
        m_model->setSubject(v - 1);
        sync();
    });
    connect(exp, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export scanpath figure"), QStringLiteral("scanpath.png"),
                                                          tr("Figures (*.png *.svg *.pdf)"));
        if (path.isEmpty()) return;
        QString error;
        if (!exportFigure(path, FigureOptions{}, &error)) m_status->setText(error);
        else m_status->setText(tr("wrote %1").arg(path));
    });
}

ScanpathView::~ScanpathView() = default;

const Figure& ScanpathView::figure() const { return *m_figure; }

bool ScanpathView::loadModel(const QString& dir, QString* error) {
    std::string e;
    const bool ok = m_model->loadModel(dir.toStdString(), &e);
    if (!ok) {
        if (error) *error = QString::fromStdString(e);
        m_status->setText(QString::fromStdString(e));
    }
    return ok;
}

void ScanpathView::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    if (m_tried_default) return;
    m_tried_default = true;
    if (!m_model->hasModel()) {
        const std::string dir = ScanpathViewModel::findDefaultModelDir(m_exe_dir.toStdString());
        if (!dir.empty()) loadModel(QString::fromStdString(dir));
    }
    if (!m_model->hasCase()) generate();
}

bool ScanpathView::generate(QString* error) {
    oat::DisplaySpec spec;
    spec.seed = static_cast<uint64_t>(m_seed->value());
    spec.set_size = m_set_size->value();
    oat::parseRegime(m_regime->currentText().toStdString(), &spec.regime);
    spec.target_present = !m_absent->isChecked();
    std::string e;
    if (!m_model->generate(spec, m_decode->currentText().toStdString(), &e)) {
        if (error) *error = QString::fromStdString(e);
        m_status->setText(QString::fromStdString(e));
        return false;
    }
    m_model->setSubject(m_subject->value() - 1);
    sync();
    return true;
}

void ScanpathView::setSeed(int seed) { m_seed->setValue(seed); }

void ScanpathView::stepForward() {
    if (m_model->next()) sync();
}
void ScanpathView::stepBack() {
    if (m_model->prev()) sync();
}

bool ScanpathView::exportFigure(const QString& path, const FigureOptions& options, QString* error) {
    return writeFigure(*m_figure, path, options, error);
}

void ScanpathView::sync() {
    m_step->blockSignals(true);
    m_step->setRange(0, std::max(0, m_model->steps() - 1));
    m_step->setValue(m_model->step());
    m_step->blockSignals(false);
    QString s = QString::fromStdString(m_model->caption());
    if (!m_model->hasModel()) s += tr(" (no OAT model found: set ATTNLAB_OAT_MODEL or run from the repository)");
    m_status->setText(s);
    m_canvas->update();
}

}  // namespace attnlab
