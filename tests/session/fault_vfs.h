// Test-only SQLite VFS shim that wraps the default VFS and makes xWrite fail once a byte budget is spent:
// SQLITE_FULL simulates a full disk, SQLITE_IOERR_WRITE a failing or read-only medium. Tests run as root,
// so permissions cannot make a folder read-only; this is how the disk-full paths are exercised.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <cstring>

namespace attnlab::test {

class FaultVfs {
public:
    static constexpr const char* kName = "attnlab_fault";

    // Registers the shim once (not as the default VFS).
    static void install() {
        static const bool registered = [] {
            sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
            realVfs() = real;
            sqlite3_vfs& vfs = shim();
            std::memset(&vfs, 0, sizeof(vfs));
            vfs.iVersion = 2;
            vfs.szOsFile = static_cast<int>(sizeof(File)) + real->szOsFile;
            vfs.mxPathname = real->mxPathname;
            vfs.zName = kName;
            vfs.xOpen = &open;
            vfs.xDelete = [](sqlite3_vfs*, const char* name, int sync) {
                return realVfs()->xDelete(realVfs(), name, sync);
            };
            vfs.xAccess = [](sqlite3_vfs*, const char* name, int flags, int* out) {
                return realVfs()->xAccess(realVfs(), name, flags, out);
            };
            vfs.xFullPathname = [](sqlite3_vfs*, const char* name, int n, char* out) {
                return realVfs()->xFullPathname(realVfs(), name, n, out);
            };
            vfs.xDlOpen = [](sqlite3_vfs*, const char* name) { return realVfs()->xDlOpen(realVfs(), name); };
            vfs.xDlError = [](sqlite3_vfs*, int n, char* out) { realVfs()->xDlError(realVfs(), n, out); };
            vfs.xDlSym = [](sqlite3_vfs*, void* handle, const char* name) {
                return realVfs()->xDlSym(realVfs(), handle, name);
            };
            vfs.xDlClose = [](sqlite3_vfs*, void* handle) { realVfs()->xDlClose(realVfs(), handle); };
            vfs.xRandomness = [](sqlite3_vfs*, int n, char* out) { return realVfs()->xRandomness(realVfs(), n, out); };
            vfs.xSleep = [](sqlite3_vfs*, int us) { return realVfs()->xSleep(realVfs(), us); };
            vfs.xCurrentTime = [](sqlite3_vfs*, double* out) { return realVfs()->xCurrentTime(realVfs(), out); };
            vfs.xGetLastError = [](sqlite3_vfs*, int n, char* out) {
                return realVfs()->xGetLastError(realVfs(), n, out);
            };
            vfs.xCurrentTimeInt64 = [](sqlite3_vfs*, sqlite3_int64* out) {
                return realVfs()->xCurrentTimeInt64(realVfs(), out);
            };
            return sqlite3_vfs_register(&vfs, 0) == SQLITE_OK;
        }();
        (void)registered;
    }

    // After `budget_bytes` more bytes of writes, every xWrite fails with `error_code`.
    static void arm(int64_t budget_bytes, int error_code = SQLITE_FULL) {
        state().error_code = error_code;
        state().budget_bytes = budget_bytes;
        state().failures = 0;
        state().is_armed = true;
    }
    static void disarm() { state().is_armed = false; }
    static int64_t failures() { return state().failures; }

private:
    struct File {
        sqlite3_file base;
        sqlite3_file* real;
    };
    struct State {
        std::atomic<bool> is_armed{false};
        std::atomic<int64_t> budget_bytes{0};
        std::atomic<int> error_code{SQLITE_FULL};
        std::atomic<int64_t> failures{0};
    };
    static State& state() {
        static State s;
        return s;
    }
    static sqlite3_vfs*& realVfs() {
        static sqlite3_vfs* real = nullptr;
        return real;
    }
    static sqlite3_vfs& shim() {
        static sqlite3_vfs vfs;
        return vfs;
    }
    static sqlite3_file* real(sqlite3_file* file) { return reinterpret_cast<File*>(file)->real; }

    static int write(sqlite3_file* file, const void* data, int bytes, sqlite3_int64 offset) {
        State& s = state();
        if (s.is_armed) {
            const int64_t left = s.budget_bytes.fetch_sub(bytes);
            if (left < bytes) {
                ++s.failures;
                return s.error_code;
            }
        }
        return real(file)->pMethods->xWrite(real(file), data, bytes, offset);
    }

    static const sqlite3_io_methods* methods() {
        static const sqlite3_io_methods io = [] {
            sqlite3_io_methods m;
            std::memset(&m, 0, sizeof(m));
            m.iVersion = 3;
            m.xClose = [](sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); };
            m.xRead = [](sqlite3_file* f, void* out, int n, sqlite3_int64 offset) {
                return real(f)->pMethods->xRead(real(f), out, n, offset);
            };
            m.xWrite = &write;
            m.xTruncate = [](sqlite3_file* f, sqlite3_int64 size) {
                return real(f)->pMethods->xTruncate(real(f), size);
            };
            m.xSync = [](sqlite3_file* f, int flags) { return real(f)->pMethods->xSync(real(f), flags); };
            m.xFileSize = [](sqlite3_file* f, sqlite3_int64* size) {
                return real(f)->pMethods->xFileSize(real(f), size);
            };
            m.xLock = [](sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); };
            m.xUnlock = [](sqlite3_file* f, int level) { return real(f)->pMethods->xUnlock(real(f), level); };
            m.xCheckReservedLock = [](sqlite3_file* f, int* out) {
                return real(f)->pMethods->xCheckReservedLock(real(f), out);
            };
            m.xFileControl = [](sqlite3_file* f, int op, void* arg) {
                return real(f)->pMethods->xFileControl(real(f), op, arg);
            };
            m.xSectorSize = [](sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); };
            m.xDeviceCharacteristics = [](sqlite3_file* f) {
                return real(f)->pMethods->xDeviceCharacteristics(real(f));
            };
            m.xShmMap = [](sqlite3_file* f, int region, int bytes, int extend, void volatile** out) {
                return real(f)->pMethods->iVersion >= 2
                           ? real(f)->pMethods->xShmMap(real(f), region, bytes, extend, out)
                           : SQLITE_IOERR_SHMMAP;
            };
            m.xShmLock = [](sqlite3_file* f, int offset, int n, int flags) {
                return real(f)->pMethods->iVersion >= 2 ? real(f)->pMethods->xShmLock(real(f), offset, n, flags)
                                                        : SQLITE_IOERR_SHMLOCK;
            };
            m.xShmBarrier = [](sqlite3_file* f) {
                if (real(f)->pMethods->iVersion >= 2) real(f)->pMethods->xShmBarrier(real(f));
            };
            m.xShmUnmap = [](sqlite3_file* f, int remove) {
                return real(f)->pMethods->iVersion >= 2 ? real(f)->pMethods->xShmUnmap(real(f), remove) : SQLITE_OK;
            };
            m.xFetch = [](sqlite3_file* f, sqlite3_int64 offset, int n, void** out) {
                if (real(f)->pMethods->iVersion >= 3) return real(f)->pMethods->xFetch(real(f), offset, n, out);
                *out = nullptr;
                return SQLITE_OK;
            };
            m.xUnfetch = [](sqlite3_file* f, sqlite3_int64 offset, void* p) {
                return real(f)->pMethods->iVersion >= 3 ? real(f)->pMethods->xUnfetch(real(f), offset, p) : SQLITE_OK;
            };
            return m;
        }();
        return &io;
    }

    static int open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
        File* shim_file = reinterpret_cast<File*>(file);
        shim_file->real = reinterpret_cast<sqlite3_file*>(shim_file + 1);
        std::memset(shim_file->real, 0, static_cast<size_t>(realVfs()->szOsFile));
        const int rc = realVfs()->xOpen(realVfs(), name, shim_file->real, flags, out_flags);
        shim_file->base.pMethods = shim_file->real->pMethods != nullptr ? methods() : nullptr;
        return rc;
    }
};

}  // namespace attnlab::test
