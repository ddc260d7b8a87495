#include "app/gui/model_panel.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace attnlab {

namespace {

QString bytesText(int64_t bytes) {
    const double b = double(bytes);
    if (b >= 1e9) return QStringLiteral("%1 GB").arg(b / 1e9, 0, 'f', 2);
    if (b >= 1e6) return QStringLiteral("%1 MB").arg(b / 1e6, 0, 'f', 1);
    if (b >= 1e3) return QStringLiteral("%1 kB").arg(b / 1e3, 0, 'f', 1);
    return QStringLiteral("%1 B").arg(bytes);
}

QString countText(int64_t n) {
    const double v = double(n);
    if (v >= 1e9) return QStringLiteral("%1 B").arg(v / 1e9, 0, 'f', 2);
    if (v >= 1e6) return QStringLiteral("%1 M").arg(v / 1e6, 0, 'f', 2);
    if (v >= 1e3) return QStringLiteral("%1 k").arg(v / 1e3, 0, 'f', 1);
    return QString::number(n);
}

}  // namespace

ModelPanel::ModelPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    auto* row = new QHBoxLayout();
    m_dir = new QLineEdit(this);
    m_dir->setPlaceholderText(tr("Hugging Face checkpoint directory"));
    auto* browse = new QPushButton(tr("Open…"), this);
    row->addWidget(m_dir, 1);
    row->addWidget(browse);
    layout->addLayout(row);
    auto* row2 = new QHBoxLayout();
    m_device = new QComboBox(this);
    m_device->addItems({QStringLiteral("cpu"), QStringLiteral("cuda")});
    m_device->setEditable(true);
    m_dtype = new QComboBox(this);
    m_dtype->addItem(tr("auto"), QString());
    for (const char* t : {"f32", "bf16", "f16"}) m_dtype->addItem(QString::fromLatin1(t), QString::fromLatin1(t));
    m_load = new QPushButton(tr("Load"), this);
    row2->addWidget(new QLabel(tr("Device"), this));
    row2->addWidget(m_device);
    row2->addWidget(new QLabel(tr("dtype"), this));
    row2->addWidget(m_dtype);
    row2->addStretch(1);
    row2->addWidget(m_load);
    layout->addLayout(row2);
    m_status = new QLabel(this);
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_status->setObjectName(QStringLiteral("modelStatus"));
    layout->addWidget(m_status);
    m_info = new QLabel(this);
    m_info->setTextFormat(Qt::RichText);
    m_info->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_info);
    layout->addStretch(1);

    connect(browse, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a checkpoint directory"), m_dir->text());
        if (dir.isEmpty()) return;
        m_dir->setText(dir);
        Q_EMIT loadRequested();
    });
    connect(m_load, &QPushButton::clicked, this, &ModelPanel::loadRequested);
    connect(m_dir, &QLineEdit::returnPressed, this, &ModelPanel::loadRequested);
}

void ModelPanel::setDirectory(const QString& dir) { m_dir->setText(dir); }

QString ModelPanel::directory() const { return m_dir->text().trimmed(); }

LoadOptions ModelPanel::loadOptions() const {
    LoadOptions o;
    o.device = m_device->currentText().trimmed().toStdString();
    o.dtype = m_dtype->currentData().toString().toStdString();
    return o;
}

void ModelPanel::setLoadOptions(const LoadOptions& options) {
    m_device->setCurrentText(QString::fromStdString(options.device));
    const int i = m_dtype->findData(QString::fromStdString(options.dtype));
    m_dtype->setCurrentIndex(i >= 0 ? i : 0);
}

void ModelPanel::setLoading() {
    m_status->setStyleSheet(QString());
    m_status->setText(tr("Loading %1 …").arg(directory()));
    m_info->clear();
}

void ModelPanel::showModel(const ModelSnapshot& model) {
    if (!model.is_ok) {
        m_status->setStyleSheet(QStringLiteral("color: #c0392b;"));
        m_status->setText(tr("Could not load %1:\n%2")
                              .arg(QString::fromStdString(model.dir), QString::fromStdString(model.error)));
        m_info->clear();
        return;
    }
    const ModelInfo& i = model.info;
    m_status->setStyleSheet(QStringLiteral("color: #1e8449;"));
    m_status->setText(tr("Loaded %1").arg(QString::fromStdString(model.dir)));
    QString heads = QString::number(i.heads);
    if (i.kv_heads != i.heads) heads += tr(" query, %1 KV (grouped)").arg(i.kv_heads);
    QString rows;
    auto add = [&rows](const QString& k, const QString& v) {
        rows += QStringLiteral("<tr><td style='padding-right:10px;color:#666'>%1</td><td>%2</td></tr>").arg(k, v);
    };
    add(tr("architecture"), QString::fromStdString(i.architecture).toHtmlEscaped());
    add(tr("parameters"), countText(i.parameters));
    add(tr("layers"), QString::number(i.layers));
    add(tr("heads"), heads);
    add(tr("head dim / hidden"), QStringLiteral("%1 / %2").arg(i.head_dim).arg(i.hidden_size));
    add(tr("vocabulary"), QString::number(i.vocab_size));
    add(tr("context"), QString::number(i.context_tokens) +
                           (i.sliding_window > 0 ? tr(" (sliding window %1)").arg(i.sliding_window) : QString()));
    add(tr("weights"), bytesText(i.weight_bytes));
    add(tr("device / dtype"), QString::fromStdString(i.device + " / " + i.dtype));
    m_info->setText(QStringLiteral("<table>%1</table>").arg(rows));
}

}  // namespace attnlab
