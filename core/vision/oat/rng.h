// A small deterministic random source for the OAT data: the same bits on every platform and
// standard library (std::normal_distribution and friends are implementation-defined), so a display
// or a simulated scanpath generated here and on the GPU machine from one seed agree.
#pragma once

#include <cmath>
#include <cstdint>

namespace attnlab::oat {

inline uint64_t splitMix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

inline uint64_t mixSeeds(uint64_t a, uint64_t b) { return splitMix64(a ^ splitMix64(b + 0x632BE59BD9B4E019ull)); }

class Rng {
public:
    explicit Rng(uint64_t seed) : m_state(splitMix64(seed)) {}
    uint64_t next() {
        // xorshift64* on a state that is never zero.
        m_state ^= m_state >> 12;
        m_state ^= m_state << 25;
        m_state ^= m_state >> 27;
        if (m_state == 0) m_state = 0x2545F4914F6CDD1Dull;
        return m_state * 0x2545F4914F6CDD1Dull;
    }
    double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0,1)
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    int index(int n) { return static_cast<int>(uniform() * n) % n; }  // 0..n-1
    bool bernoulli(double p) { return uniform() < p; }
    double normal() {
        if (m_has_spare) {
            m_has_spare = false;
            return m_spare;
        }
        double u1 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        const double u2 = uniform();
        const double r = std::sqrt(-2.0 * std::log(u1));
        m_spare = r * std::sin(6.283185307179586 * u2);
        m_has_spare = true;
        return r * std::cos(6.283185307179586 * u2);
    }
    // Gamma(shape k, scale theta), Marsaglia-Tsang (k >= 1).
    double gamma(double k, double theta) {
        const double d = k - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
        for (;;) {
            double x = normal(), v = 1.0 + c * x;
            if (v <= 0) continue;
            v = v * v * v;
            const double u = uniform();
            if (u < 1.0 - 0.0331 * x * x * x * x) return d * v * theta;
            if (std::log(u + 1e-300) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v * theta;
        }
    }

private:
    uint64_t m_state;
    double m_spare = 0;
    bool m_has_spare = false;
};

}  // namespace attnlab::oat
