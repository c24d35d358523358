"""Throwaway numpy reference for test/schedulers/*.test.ts (run: /usr/bin/python3 test/schedulers/reference.py).

Written from the formulas of diffusers' EulerDiscrete, EulerAncestralDiscrete, DDIM,
DPMSolverMultistep (dpmsolver++, order 2, midpoint, final_sigmas_type "zero") and LCM schedulers,
in float64 numpy, independently of the TypeScript code. Its printed numbers are pasted into the
tests as literals. It also re-implements Chord's noise generator spec (docs/schedulers.md) with
Python integers so the TypeScript generator's golden values are checked against a second reading.
Not imported by anything; kept so the literals can be regenerated and audited.
"""
import math
import numpy as np

N = 1000
B0, B1 = 0.00085, 0.012


def alphas_cumprod(schedule='scaled_linear'):
    if schedule == 'scaled_linear':
        betas = np.linspace(B0 ** 0.5, B1 ** 0.5, N) ** 2
    else:
        betas = np.linspace(B0, B1, N)
    return np.cumprod(1.0 - betas)


AC = alphas_cumprod()
SIG = np.sqrt((1 - AC) / AC)


def lst(a, digits=10):
    return '[' + ', '.join(f'{float(x):.{digits}g}' for x in a) + ']'


# ---- timestep selection ----------------------------------------------------------------------
def euler_timesteps(steps, spacing='leading', offset=1):
    if spacing == 'leading':
        return (np.arange(steps) * (N // steps)).round()[::-1].astype(np.float32) + offset
    if spacing == 'trailing':
        return np.arange(N, 0, -N / steps).round()[:steps].astype(np.float32) - 1
    return np.linspace(0, N - 1, steps, dtype=np.float32)[::-1]


def ddim_timesteps(steps, spacing='leading', offset=1):
    if spacing == 'leading':
        return (np.arange(steps) * (N // steps))[::-1] + offset
    if spacing == 'trailing':
        return np.arange(N, 0, -N / steps).round()[:steps].astype(np.int64) - 1
    return np.linspace(0, N - 1, steps).round()[::-1].astype(np.int64)


def dpm_timesteps(steps, spacing='leading', offset=1):
    if spacing == 'leading':
        r = N // (steps + 1)
        return (np.arange(steps + 1) * r)[::-1][:-1] + offset
    if spacing == 'trailing':
        return np.arange(N, 0, -N / steps).round()[:steps].astype(np.int64) - 1
    return np.linspace(0, N - 1, steps + 1).round()[::-1][:-1].astype(np.int64)


def sigma_to_t(sigma, log_sigmas):
    ls = math.log(max(sigma, 1e-10))
    ge = ls - log_sigmas >= 0
    low = int(np.cumsum(ge).argmax())
    low = min(low, len(log_sigmas) - 2)
    lo, hi = log_sigmas[low], log_sigmas[low + 1]
    w = min(max((lo - ls) / (lo - hi), 0.0), 1.0)
    return (1 - w) * low + w * (low + 1)


def karras(steps, rho=7.0):
    smin, smax = SIG[0], SIG[-1]
    ramp = np.linspace(0, 1, steps)
    s = (smax ** (1 / rho) + ramp * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    t = np.array([sigma_to_t(x, np.log(SIG)) for x in s]).round()
    return t, s


def euler_sigmas(ts):
    return np.concatenate([np.interp(ts.astype(np.float64), np.arange(N), SIG), [0.0]])


# ---- hand-chosen test inputs (same literals in the TS tests) ------------------------------------
SAMPLE = np.array([0.5, -1.2, 2.0, 0.0])
EPS = np.array([0.1, -0.3, 0.7, -1.5])


def model_out(i):
    return EPS * (1 - 0.05 * i) + 0.02 * i


def noise(j):  # j-th noise draw of a run
    return np.array([math.cos(1.3 * (j + 1) + k) for k in range(4)])


# ---- steps ------------------------------------------------------------------------------------
def euler_x0(m, x, s, pred):
    if pred == 'epsilon':
        return x - s * m
    return m * (-s / math.sqrt(s * s + 1)) + x / (s * s + 1)


def run_euler(steps, n_run, pred='epsilon', ancestral=False):
    ts = euler_timesteps(steps)
    sg = euler_sigmas(ts)
    x = SAMPLE.copy()
    outs = []
    j = 0
    for i in range(n_run):
        s, sn = sg[i], sg[i + 1]
        x0 = euler_x0(model_out(i), x, s, pred)
        d = (x - x0) / s
        if ancestral:
            up = math.sqrt(sn ** 2 * (s ** 2 - sn ** 2) / s ** 2)
            down = math.sqrt(sn ** 2 - up ** 2)
            x = x + d * (down - s)
            if up > 0:
                x = x + noise(j) * up
                j += 1
        else:
            x = x + d * (sn - s)
        outs.append(x.copy())
    return outs


def run_ddim(steps, n_run, pred='epsilon'):
    ts = ddim_timesteps(steps)
    x = SAMPLE.copy()
    outs = []
    for i in range(n_run):
        a = AC[ts[i]]
        ap = AC[ts[i + 1]] if i + 1 < len(ts) else AC[0]  # set_alpha_to_one false
        m = model_out(i)
        if pred == 'epsilon':
            x0 = (x - math.sqrt(1 - a) * m) / math.sqrt(a)
            e = m
        else:
            x0 = math.sqrt(a) * x - math.sqrt(1 - a) * m
            e = math.sqrt(a) * m + math.sqrt(1 - a) * x
        x = math.sqrt(ap) * x0 + math.sqrt(1 - ap) * e
        outs.append(x.copy())
    return outs


def vp(s):
    a = 1 / math.sqrt(s * s + 1)
    return a, s * a


def run_dpm(steps, n_run, pred='epsilon', use_karras=False):
    if use_karras:
        _, s = karras(steps)
        sg = np.concatenate([s, [0.0]])
    else:
        ts = dpm_timesteps(steps)
        sg = np.concatenate([SIG[ts], [0.0]])
    x = SAMPLE.copy()
    outs = []
    prev = None
    for i in range(n_run):
        a_s, s_s = vp(sg[i])
        m = model_out(i)
        x0 = (x - s_s * m) / a_s if pred == 'epsilon' else a_s * x - s_s * m
        last = i == len(sg) - 2
        if sg[i + 1] == 0:
            xn = x0.copy()  # first order update with sigma_t = 0 gives x0 exactly
        else:
            a_t, s_t = vp(sg[i + 1])
            lam_t = math.log(a_t) - math.log(s_t)
            lam_s = math.log(a_s) - math.log(s_s)
            h = lam_t - lam_s
            if prev is None or last:
                xn = (s_t / s_s) * x - a_t * (math.exp(-h) - 1) * x0
            else:
                a_p, s_p = vp(sg[i - 1])
                lam_p = math.log(a_p) - math.log(s_p)
                r0 = (lam_s - lam_p) / h
                d1 = (x0 - prev) / r0
                xn = (s_t / s_s) * x - a_t * (math.exp(-h) - 1) * x0 - 0.5 * a_t * (math.exp(-h) - 1) * d1
        prev = x0
        x = xn
        outs.append(x.copy())
    return outs


def lcm_timesteps(steps, orig=50):
    k = N // orig
    origin = (np.arange(1, orig + 1) * k - 1)[::-1]
    idx = np.floor(np.linspace(0, orig, steps, endpoint=False)).astype(np.int64)
    return origin[idx]


def run_lcm(steps, n_run, pred='epsilon'):
    ts = lcm_timesteps(steps)
    x = SAMPLE.copy()
    outs = []
    j = 0
    for i in range(n_run):
        t = ts[i]
        a = AC[t]
        m = model_out(i)
        st = t * 10.0
        c_skip = 0.25 / (st * st + 0.25)
        c_out = st / math.sqrt(st * st + 0.25)
        x0 = (x - math.sqrt(1 - a) * m) / math.sqrt(a) if pred == 'epsilon' else math.sqrt(a) * x - math.sqrt(1 - a) * m
        den = c_out * x0 + c_skip * x
        if i != len(ts) - 1:
            ap = AC[ts[i + 1]]
            x = math.sqrt(ap) * den + math.sqrt(1 - ap) * noise(j)
            j += 1
        else:
            x = den
        outs.append(x.copy())
    return outs


# ---- noise generator spec (xoshiro128** seeded by a splitmix-style fmix32 sequence) ----------
M32 = 0xFFFFFFFF


def fmix32(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h


def rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


class Xoshiro:
    def __init__(self, seed):
        lo, hi = seed & M32, seed >> 32
        z = lo ^ fmix32(hi)
        self.s = []
        for _ in range(4):
            z = (z + 0x9E3779B9) & M32
            self.s.append(fmix32(z))

    def next(self):
        s = self.s
        r = (rotl((s[1] * 5) & M32, 7) * 9) & M32
        t = (s[1] << 9) & M32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 11)
        return r

    def uniform(self):
        a = self.next() >> 5
        b = self.next() >> 6
        return (a * 67108864 + b) / 9007199254740992

    def randn(self, count):
        out = []
        while len(out) < count:
            u1 = 1 - self.uniform()
            u2 = self.uniform()
            r = math.sqrt(-2 * math.log(u1))
            out += [r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)]
        return out[:count]


if __name__ == '__main__':
    print('ac[0], ac[499], ac[999] =', lst([AC[0], AC[499], AC[999]], 17))
    print('sig[0], sig[999] =', lst([SIG[0], SIG[999]], 17))
    f32 = np.cumprod((1 - (np.linspace(B0 ** 0.5, B1 ** 0.5, N, dtype=np.float32) ** 2)).astype(np.float32), dtype=np.float32)
    print('max rel diff float32 vs float64 sigmas:', np.max(np.abs(np.sqrt((1 - f32) / f32) / SIG - 1)))
    for steps in (10, 20):
        ts = euler_timesteps(steps)
        sg = euler_sigmas(ts)
        print(f'\n== {steps} steps, SD 1.5 config (leading, offset 1)')
        print('euler timesteps', lst(ts))
        print('euler sigmas', lst(sg, 12))
        print('euler initNoiseSigma', repr(math.sqrt(sg.max() ** 2 + 1)))
        print('ddim timesteps', lst(ddim_timesteps(steps)))
        ts = dpm_timesteps(steps)
        print('dpm timesteps', lst(ts))
        print('dpm sigmas', lst(np.concatenate([SIG[ts], [0]]), 12))
        kt, ks = karras(steps)
        print('karras timesteps', lst(kt))
        print('karras sigmas', lst(np.concatenate([ks, [0]]), 12))
    for sp in ('trailing', 'linspace'):
        print(f'\n== 10 steps, {sp}')
        print('euler timesteps', lst(euler_timesteps(10, sp)))
        print('euler sigmas', lst(euler_sigmas(euler_timesteps(10, sp)), 12))
        print('ddim timesteps', lst(ddim_timesteps(10, sp)))
        print('dpm timesteps', lst(dpm_timesteps(10, sp)))
    ts = euler_timesteps(20, 'linspace')
    print('\neuler linspace 20 timesteps', lst(ts, 9))
    print('euler linspace 20 sigmas', lst(euler_sigmas(ts), 12))
    print('euler linspace 20 initNoiseSigma', repr(float(euler_sigmas(ts).max())))
    print('euler trailing 10 initNoiseSigma', repr(float(euler_sigmas(euler_timesteps(10, 'trailing')).max())))
    for steps in (4, 8, 20):
        print(f'lcm {steps} timesteps', lst(lcm_timesteps(steps)))

    print('\n== steps on SAMPLE with model_out(i), 10 steps')
    for name, fn in [('euler', lambda p: run_euler(10, 10, p)),
                     ('euler_a', lambda p: run_euler(10, 10, p, ancestral=True)),
                     ('ddim', lambda p: run_ddim(10, 10, p)),
                     ('dpmpp_2m', lambda p: run_dpm(10, 10, p)),
                     ('dpmpp_2m_karras', lambda p: run_dpm(10, 10, p, use_karras=True)),
                     ('lcm(4 steps)', lambda p: run_lcm(4, 4, p))]:
        o = fn('epsilon')
        print(name, 'step0', lst(o[0], 12))
        print(name, 'step1', lst(o[1], 12))
        print(name, 'final', lst(o[-1], 12))
        print(name, 'v_pred step0', lst(fn('v_prediction')[0], 12))

    print('\n== noise generator')
    for seed in (0, 42, 2 ** 32 + 7):
        g = Xoshiro(seed)
        print('seed', seed, 'uint32', [g.next() for _ in range(4)])
        print('seed', seed, 'randn(5)', lst(Xoshiro(seed).randn(5), 12))
    g = Xoshiro(42)
    g.randn(3)
    print('seed 42 after randn(3): randn(2)', lst(g.randn(2), 12))
    big = np.array(Xoshiro(1234).randn(200000))
    print('seed 1234 randn(200000) mean/std', big.mean(), big.std())
