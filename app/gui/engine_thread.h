// The one thread that runs engine work (RenderDoc's render thread): jobs are queued with a tag,
// and a newer job with the same tag replaces a queued one that has not started yet, so a slider
// dragged across twenty values costs one recomputation, not twenty. The job that is running is
// never interrupted here (cancellation is the job's business). Qt-only; knows nothing of the engine.
#pragma once

#include <QThread>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

namespace attnlab {

class EngineThread : public QThread {
    Q_OBJECT

public:
    explicit EngineThread(QObject* parent = nullptr);
    ~EngineThread() override;  // stop() and wait

    // Thread-safe. An empty tag is never dropped. Returns how many queued jobs this one replaced.
    int submit(const std::string& tag, std::function<void()> job);
    // Lets the queued jobs run, then ends the thread. No submit() after this.
    void stop();
    // Jobs dropped as stale so far.
    int droppedJobs() const;
    // Jobs queued and not started.
    int pendingJobs() const;

protected:
    void run() override;

private:
    struct Job {
        std::string tag;
        std::function<void()> fn;
    };
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<Job> m_queue;
    bool m_is_stopping = false;
    int m_dropped = 0;
};

}  // namespace attnlab
