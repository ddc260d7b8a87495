// Scanpath view model (issue 9): one OAT search display with the OAT-lite model's predicted
// scanpath (MBR or greedy decoding), the simulated subjects' scanpaths, and per step the model's
// pointer distribution over the objects (+ STOP) and its last decoder layer's cross-attention over
// the object tokens (+ cue, STOP). Step s = 0..steps()-1: the model is about to choose fixation s+1
// (the last step is the STOP decision). Qt-free, torch-free header; GUI thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/vision/oat/scanpath_case.h"

namespace attnlab {

class ScanpathViewModel {
public:
    ScanpathViewModel();
    ~ScanpathViewModel();

    // ATTNLAB_OAT_MODEL, ./assets/models/oat, or assets/models/oat above exe_dir; "" if none.
    static std::string findDefaultModelDir(const std::string& exe_dir);
    bool loadModel(const std::string& dir, std::string* error);
    bool hasModel() const { return m_model != nullptr; }
    const std::string& modelDir() const { return m_model_dir; }

    // Generates the display, subjects and baselines and (with a model) decodes and traces it.
    // decode: "mbr" (16 samples) or "greedy". Returns false with *error on failure.
    bool generate(const oat::DisplaySpec& spec, const std::string& decode, std::string* error);
    bool hasCase() const { return m_case != nullptr; }

    const oat::Display& display() const;
    const std::vector<uint8_t>& imageRgb() const { return m_image; }  // kCanvasWidth x kCanvasHeight RGB
    int objects() const;
    const std::string& decoding() const { return m_decode; }
    const std::vector<int>& modelPath() const { return m_model_path; }
    int subjectCount() const;
    std::vector<int> subjectPath(int subject) const;
    int subject() const { return m_subject; }
    void setSubject(int subject);  // clamped; -1 hides the subject

    int steps() const { return m_steps; }  // model path length + 1 (0 without a model)
    int step() const { return m_step; }
    void setStep(int step);  // clamped to 0..steps()-1
    bool next();             // false at the end
    bool prev();

    // At the current step: probabilities over objects then STOP (N+1), and attention over objects,
    // cue, STOP (N+2). Empty without a model.
    std::vector<float> pointer() const;
    std::vector<float> attention() const;
    int argmaxObject() const;  // the most likely choice at this step (N = STOP), -1 without a model

    double modelScore() const;    // mean sequence score of the model's path against the subjects
    double subjectScore() const;  // the shown subject against the other subjects
    std::string caption() const;

private:
    std::unique_ptr<oat::OatModel> m_model;
    std::string m_model_dir;
    std::unique_ptr<oat::ScanpathCase> m_case;
    std::vector<uint8_t> m_image;
    std::string m_decode = "mbr";
    std::vector<int> m_model_path;
    oat::OatModel::Trace m_trace;
    int m_steps = 0, m_step = 0, m_subject = 0;
};

}  // namespace attnlab
