#include "app/gui/engine_thread.h"

#include <algorithm>

namespace attnlab {

EngineThread::EngineThread(QObject* parent) : QThread(parent) { setObjectName(QStringLiteral("attnlab-engine")); }

EngineThread::~EngineThread() {
    stop();
    wait();
}

int EngineThread::submit(const std::string& tag, std::function<void()> job) {
    std::lock_guard<std::mutex> lock(m_mutex);
    int replaced = 0;
    if (!tag.empty()) {
        const auto stale = [&](const Job& j) { return j.tag == tag; };
        replaced = static_cast<int>(std::count_if(m_queue.begin(), m_queue.end(), stale));
        m_queue.erase(std::remove_if(m_queue.begin(), m_queue.end(), stale), m_queue.end());
        m_dropped += replaced;
    }
    m_queue.push_back(Job{tag, std::move(job)});
    m_wake.notify_one();
    return replaced;
}

void EngineThread::stop() {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_is_stopping = true;
    m_wake.notify_one();
}

int EngineThread::droppedJobs() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_dropped;
}

int EngineThread::pendingJobs() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return static_cast<int>(m_queue.size());
}

void EngineThread::run() {
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_wake.wait(lock, [this] { return m_is_stopping || !m_queue.empty(); });
            if (m_queue.empty()) return;  // stopping, and nothing left
            job = std::move(m_queue.front());
            m_queue.pop_front();
        }
        job.fn();
    }
}

}  // namespace attnlab
