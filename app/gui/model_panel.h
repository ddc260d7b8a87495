// Model dock: which checkpoint, on which device and dtype; what it is; why it did not load.
#pragma once

#include <QWidget>

#include "app/gui/engine_client.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;

namespace attnlab {

class ModelPanel : public QWidget {
    Q_OBJECT

public:
    explicit ModelPanel(QWidget* parent = nullptr);

    void setDirectory(const QString& dir);
    QString directory() const;
    LoadOptions loadOptions() const;
    void setLoadOptions(const LoadOptions& options);
    void setLoading();
    void showModel(const ModelSnapshot& model);

Q_SIGNALS:
    void loadRequested();

private:
    QLineEdit* m_dir = nullptr;
    QComboBox* m_device = nullptr;
    QComboBox* m_dtype = nullptr;
    QPushButton* m_load = nullptr;
    QLabel* m_status = nullptr;
    QLabel* m_info = nullptr;
};

}  // namespace attnlab
