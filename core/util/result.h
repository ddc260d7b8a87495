// Result<T>: expected failures are return values carrying a message a user can act on
// (STYLE.md, DuckDB habit). Exceptions are kept for programmer errors and converted at the edges.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace attnlab {

// Thrown only where a Result cannot be returned (deep inside the forward pass); the worker/CLI edge
// converts it into a message. Always carries a user-facing message.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

class Status {
public:
    Status() = default;
    static Status ok() { return Status(); }
    static Status fail(std::string message) {
        Status s;
        s.m_error = std::move(message);
        s.m_is_error = true;
        return s;
    }
    bool isOk() const { return !m_is_error; }
    const std::string& error() const { return m_error; }

private:
    std::string m_error;
    bool m_is_error = false;
};

template <class T>
class Result {
public:
    Result(T value) : m_value(std::move(value)) {}  // NOLINT: implicit by design
    Result(Status failed) : m_error(failed.error()) {
        if (failed.isOk()) throw std::logic_error("Result constructed from an ok Status without a value");
    }
    static Result fail(std::string message) { return Result(Status::fail(std::move(message))); }

    bool isOk() const { return m_value.has_value(); }
    explicit operator bool() const { return isOk(); }
    const std::string& error() const { return m_error; }

    T& value() {
        if (!m_value) throw Error(m_error);
        return *m_value;
    }
    const T& value() const {
        if (!m_value) throw Error(m_error);
        return *m_value;
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() { return value(); }
    Status status() const { return isOk() ? Status::ok() : Status::fail(m_error); }

private:
    std::optional<T> m_value;
    std::string m_error;
};

}  // namespace attnlab
