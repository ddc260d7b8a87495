// A combo box for a view's toolbar row, without a separate label (the items say what they are), so
// views fit side by side: long entries (strategy specs) must not push the other pickers over each other.
#pragma once

#include <QComboBox>
#include <QHBoxLayout>
#include <QString>

namespace attnlab {

inline QComboBox* addPicker(QHBoxLayout* row, const QString& tooltip, QWidget* parent, int min_chars) {
    auto* box = new QComboBox(parent);
    box->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    box->setMinimumContentsLength(min_chars);
    box->setToolTip(tooltip);
    row->addWidget(box);
    return box;
}

}  // namespace attnlab
