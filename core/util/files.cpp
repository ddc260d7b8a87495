#include "core/util/files.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace attnlab {

std::string executablePath(const std::string& fallback) {
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : fallback;
}

Status writeFileAtomically(const std::string& path, const std::function<bool(std::FILE*)>& write) {
    const std::string temp = path + ".tmp-" + std::to_string(::getpid());
    std::FILE* file = std::fopen(temp.c_str(), "wb");
    if (file == nullptr) return Status::fail(path + ": cannot create the file: " + std::strerror(errno));
    errno = 0;
    bool is_ok = write(file);
    const int write_errno = errno;
    is_ok = (std::fclose(file) == 0) && is_ok;
    if (!is_ok || std::rename(temp.c_str(), path.c_str()) != 0) {
        const int err = is_ok ? errno : write_errno;
        std::remove(temp.c_str());
        return Status::fail(path + ": cannot write the file: " +
                            (err == ENOSPC ? std::string("the disk is full") : std::strerror(err)));
    }
    return Status::ok();
}

}  // namespace attnlab
