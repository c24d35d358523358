// Expected step results come from test/schedulers/reference.py: an independent float64 numpy
// re-derivation of diffusers' step formulas (run with /usr/bin/python3), pasted as literals.
// Inputs (the same in both): sample SAMPLE, model output at step i = EPS * (1 - 0.05 i) + 0.02 i,
// and the j-th noise draw of a run = cos(1.3 (j + 1) + k) for element k.
import { describe, expect, it } from 'vitest';
import {
  createScheduler,
  NoiseGenerator,
  SAMPLER_NAMES,
  SD15_SCHEDULER_CONFIG,
  type NoiseSource,
  type SamplerName,
  type Scheduler,
  type SchedulerConfig,
} from '../../src/engine/schedulers';
import { trainingSchedule } from '../../src/engine/schedulers/schedule';
import { expectClose } from './close';

const SD15: SchedulerConfig = { ...SD15_SCHEDULER_CONFIG };
const VPRED: SchedulerConfig = { ...SD15, predictionType: 'v_prediction' };
const SAMPLE = [0.5, -1.2, 2.0, 0.0];
const EPS = [0.1, -0.3, 0.7, -1.5];

const modelOutput = (i: number) => Float32Array.from(EPS, (e) => e * (1 - 0.05 * i) + 0.02 * i);

function cosineNoise(): NoiseSource {
  let j = 0;
  return () => {
    j += 1;
    return Float32Array.from([0, 1, 2, 3], (k) => Math.cos(1.3 * j + k));
  };
}

/** Runs `count` steps from SAMPLE; returns every step's result. */
function run(name: SamplerName, config: SchedulerConfig, steps: number, count = steps): Float32Array[] {
  const s = createScheduler(name, config);
  s.setTimesteps(steps);
  const noise = cosineNoise();
  let x: Float32Array = Float32Array.from(SAMPLE);
  const outs: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    x = s.step(modelOutput(i), i, x, noise);
    outs.push(x);
  }
  return outs;
}

interface Expected {
  steps: number;
  step0: number[];
  step1: number[];
  final: number[];
  vStep0: number[];
}

const EXPECTED: Record<SamplerName, Expected> = {
  euler: {
    steps: 10,
    step0: [0.17437463473, -0.22312390419, -0.279377556891, 4.88438047905],
    step1: [-0.0310921320085, 0.250342993077, -1.50324481964, 7.39464836833],
    final: [-0.569530888158, 0.779459805081, -3.64301692802, 11.1264318848],
    vStep0: [0.270142452055, -0.625220733847, 0.964964052793, 0.578028777138],
  },
  euler_a: {
    steps: 10,
    step0: [1.06140943633, -2.33104776762, -5.6842524722, 6.24561873557],
    step1: [-1.45304438277, -3.82508814904, -7.99078228438, 12.3612356937],
    final: [-2.69404108899, -1.84541125679, -9.94753648226, 19.1227357858],
    vStep0: [1.21577953401, -2.97919584708, -3.67847285638, -0.695877389806],
  },
  ddim: {
    steps: 10,
    step0: [0.745455286539, -1.75174252308, 2.7950703231, 0.9337541153],
    step1: [1.05724615401, -2.48709724276, 3.83433510914, 2.11642940713],
    final: [3.16101138254, -8.1567113347, 11.268799323, 11.1028973261],
    vStep0: [0.491274555773, -1.1746388298, 1.9429977028, 0.110502601452],
  },
  dpmpp_2m: {
    steps: 10,
    step0: [0.717484791919, -1.68889052981, 2.70457431369, 0.826824269902],
    step1: [0.985512964824, -2.33681813017, 3.612951167, 1.83253922674],
    final: [3.08355876695, -8.32848376997, 11.329054794, 10.6707952895],
    vStep0: [0.492411837813, -1.17787447961, 1.95007769554, 0.0978482785461],
  },
  dpmpp_2m_karras: {
    steps: 10,
    step0: [0.73962264262, -1.73898231434, 2.77793043076, 0.902800698572],
    step1: [1.13617475852, -2.69937704683, 4.12751686789, 2.36588112903],
    final: [5.44664082391, -14.1655548106, 19.4836800539, 19.2853836164],
    vStep0: [0.495469157696, -1.18666079398, 1.96955070833, 0.0616296122432],
  },
  lcm: {
    steps: 4,
    step0: [1.600112859, -3.66353933033, 3.3955696463, 4.61900535769],
    step1: [2.70354177846, -8.61564123745, 6.19727605621, 14.465297695],
    final: [4.29440242486, -15.7047965709, 10.8761756214, 31.0250594932],
    vStep0: [0.245424236218, -0.598976561581, -1.08973521513, -0.0482427908332],
  },
};

describe.each(SAMPLER_NAMES)('%s step', (name) => {
  const e = EXPECTED[name];

  it(`matches the reference on the first, second and last of ${e.steps} steps (epsilon)`, () => {
    const outs = run(name, SD15, e.steps);
    expectClose(outs[0], e.step0, 2e-6, 2e-6);
    expectClose(outs[1], e.step1, 2e-6, 2e-6);
    expectClose(outs[e.steps - 1], e.final, 1e-5, 1e-5);
  });

  it('matches the reference on the first step with v_prediction', () => {
    expectClose(run(name, VPRED, e.steps, 1)[0], e.vStep0, 2e-6, 2e-6);
  });

  it('returns a new array and leaves its inputs alone', () => {
    const s = createScheduler(name, SD15);
    s.setTimesteps(e.steps);
    const x = Float32Array.from(SAMPLE);
    const m = modelOutput(0);
    const y = s.step(m, 0, x, cosineNoise());
    expect(y).not.toBe(x);
    expect(Array.from(x)).toEqual(Array.from(Float32Array.from(SAMPLE)));
    expect(Array.from(m)).toEqual(Array.from(modelOutput(0)));
  });
});

describe('step arguments', () => {
  it('needs setTimesteps first', () => {
    const s = createScheduler('euler', SD15);
    expect(() => s.step(modelOutput(0), 0, Float32Array.from(SAMPLE))).toThrow(/call setTimesteps/);
  });

  it('rejects an index outside the schedule and mismatched lengths', () => {
    const s = createScheduler('ddim', SD15);
    s.setTimesteps(5);
    expect(() => s.step(modelOutput(0), 5, Float32Array.from(SAMPLE))).toThrow(/Step index 5 is outside the 5-step schedule/);
    expect(() => s.step(new Float32Array(3), 0, Float32Array.from(SAMPLE))).toThrow(/3 values but the sample has 4/);
    expect(() => s.scaleModelInput(Float32Array.from(SAMPLE), -1)).toThrow(/outside/);
  });

  it.each(['euler_a', 'lcm'] as const)('%s asks for a noise source when none is given', (name) => {
    const s = createScheduler(name, SD15);
    expect(s.stochastic).toBe(true);
    s.setTimesteps(4);
    expect(() => s.step(modelOutput(0), 0, Float32Array.from(SAMPLE))).toThrow(/pass a noise source/);
    expect(() => s.step(modelOutput(0), 0, Float32Array.from(SAMPLE), () => new Float32Array(2))).toThrow(/2 values for a sample of 4/);
  });

  it('the deterministic samplers need no noise', () => {
    for (const name of ['euler', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras'] as const) {
      expect(createScheduler(name, SD15).stochastic).toBe(false);
    }
  });

  it('DPM++ 2M restarts its history on setTimesteps', () => {
    const a = run('dpmpp_2m', SD15, 10, 2);
    const s = createScheduler('dpmpp_2m', SD15);
    s.setTimesteps(10);
    s.step(modelOutput(5), 0, Float32Array.from([9, 9, 9, 9]));
    s.setTimesteps(10);
    const x1 = s.step(modelOutput(0), 0, Float32Array.from(SAMPLE));
    expect(Array.from(s.step(modelOutput(1), 1, x1))).toEqual(Array.from(a[1]));
  });
});

/**
 * A perfect denoiser for data that is the single point X0: given the model input (the
 * variance-preserving sample) and the timestep, it returns the exact noise (or v) in it. Like a
 * real UNet it only sees the scaled input and the timestep; alpha-bar at fractional timesteps is
 * taken from the linearly interpolated sigma, as the Euler schedule does.
 */
function oracle(config: SchedulerConfig, x0: Float32Array) {
  const { sigmas } = trainingSchedule(config);
  return (modelInput: Float32Array, timestep: number): Float32Array => {
    const lo = Math.min(Math.floor(timestep), sigmas.length - 2);
    const sigma = sigmas[lo] + (sigmas[lo + 1] - sigmas[lo]) * (timestep - lo);
    const a = 1 / (1 + sigma * sigma);
    const out = new Float32Array(x0.length);
    for (let k = 0; k < out.length; k++) {
      const eps = (modelInput[k] - Math.sqrt(a) * x0[k]) / Math.sqrt(1 - a);
      out[k] = config.predictionType === 'epsilon' ? eps : Math.sqrt(a) * eps - Math.sqrt(1 - a) * x0[k];
    }
    return out;
  };
}

function denoise(scheduler: Scheduler, config: SchedulerConfig, x0: Float32Array, steps: number, seed: number): Float32Array {
  const gen = new NoiseGenerator(seed);
  const model = oracle(config, x0);
  scheduler.setTimesteps(steps);
  let x: Float32Array = gen.randn(x0.length).map((z) => z * scheduler.initNoiseSigma);
  for (let i = 0; i < scheduler.timesteps.length; i++) {
    const eps = model(scheduler.scaleModelInput(x, i), scheduler.timesteps[i]);
    x = scheduler.step(eps, i, x, gen.source(x0.length));
  }
  return x;
}

describe('end to end with an oracle model: every sampler lands on the known x0', () => {
  const x0 = Float32Array.from({ length: 64 }, (_, k) => Math.sin(k * 0.7) * 1.5);
  // DDIM (set_alpha_to_one false) ends at alpha-bar_0, i.e. sigma 0.029 of noise left, as diffusers does
  const tolerance: Record<SamplerName, number> = {
    euler: 1e-4,
    euler_a: 1e-4,
    ddim: 0.15,
    dpmpp_2m: 1e-4,
    dpmpp_2m_karras: 5e-3,
    lcm: 1e-4,
  };

  for (const prediction of ['epsilon', 'v_prediction'] as const) {
    const config: SchedulerConfig = { ...SD15, predictionType: prediction };
    it.each(SAMPLER_NAMES)(`%s (${prediction})`, (name) => {
      const steps = name === 'lcm' ? 4 : 20;
      const x = denoise(createScheduler(name, config), config, x0, steps, 7);
      let worst = 0;
      for (let k = 0; k < x0.length; k++) worst = Math.max(worst, Math.abs(x[k] - x0[k]));
      expect(worst).toBeLessThan(tolerance[name]);
    });
  }

  it('DDIM with set_alpha_to_one lands exactly', () => {
    const config: SchedulerConfig = { ...SD15, setAlphaToOne: true };
    const x = denoise(createScheduler('ddim', config), config, x0, 20, 7);
    expectClose(x, Array.from(x0), 0, 1e-4);
  });

  it('the same seed reproduces a stochastic run bit for bit', () => {
    const a = denoise(createScheduler('euler_a', SD15), SD15, x0, 10, 123);
    const b = denoise(createScheduler('euler_a', SD15), SD15, x0, 10, 123);
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});

/**
 * A harder oracle: data x0 ~ N(mu_k, S^2) per element, for which the exact denoiser is the
 * posterior mean E[x0 | x_t] = mu + sqrt(a) S^2 / (a S^2 + 1 - a) (x_t - sqrt(a) mu). The
 * probability-flow ODE then keeps each element's z-score (x_t - sqrt(a) mu) / sqrt(a S^2 + 1 - a),
 * so the exact solution at any noise level is known and the solvers' discretisation error shows.
 * Compared at the last grid level, before the final jump to sigma 0 (which every sampler makes
 * with a plain x0 prediction).
 */
describe('deterministic samplers follow the probability-flow ODE of Gaussian data', () => {
  const S = 0.5;
  const n = 256;
  const mu = Float32Array.from({ length: n }, (_, k) => Math.sin(k * 0.7) * 1.5);
  const { sigmas: trainSigmas } = trainingSchedule(SD15);
  const sigmaAt = (t: number) => {
    const lo = Math.min(Math.floor(t), trainSigmas.length - 2);
    return trainSigmas[lo] + (trainSigmas[lo + 1] - trainSigmas[lo]) * (t - lo);
  };

  /** Max deviation from the exact ODE solution at the last grid level. */
  function odeError(name: SamplerName, steps: number): number {
    const s = createScheduler(name, SD15);
    s.setTimesteps(steps);
    // the solver's own noise level per step (Karras sigmas sit between training timesteps)
    const own = (s as Scheduler & { sigmas?: Float64Array }).sigmas;
    const level = (i: number) => (own ? own[i] : sigmaAt(s.timesteps[i]));
    let x: Float32Array = new NoiseGenerator(7).randn(n).map((z) => z * s.initNoiseSigma);
    const first = s.scaleModelInput(x, 0);
    const aFirst = 1 / (1 + level(0) ** 2);
    const last = s.timesteps.length - 1;
    for (let i = 0; i < last; i++) {
      // like a UNet, the oracle knows only the (scaled) input and the timestep
      const input = s.scaleModelInput(x, i);
      const sigma = sigmaAt(s.timesteps[i]);
      const a = 1 / (1 + sigma * sigma);
      const eps = input.map((v, k) => {
        const mean = mu[k] + ((Math.sqrt(a) * S * S) / (a * S * S + 1 - a)) * (v - Math.sqrt(a) * mu[k]);
        return (v - Math.sqrt(a) * mean) / Math.sqrt(1 - a);
      });
      x = s.step(eps, i, x);
    }
    const end = s.scaleModelInput(x, last);
    const aEnd = 1 / (1 + level(last) ** 2);
    let worst = 0;
    for (let k = 0; k < n; k++) {
      const z = (first[k] - Math.sqrt(aFirst) * mu[k]) / Math.sqrt(aFirst * S * S + 1 - aFirst);
      const exact = Math.sqrt(aEnd) * mu[k] + Math.sqrt(aEnd * S * S + 1 - aEnd) * z;
      worst = Math.max(worst, Math.abs(end[k] - exact));
    }
    return worst;
  }

  // Bounds are about 1.5x what these implementations reach (and what the numpy reference's
  // DPM++ 2M reaches on the same problem); a wrong coefficient anywhere lands far above them.
  it('Euler and DDIM: first order (error halves when steps double), and the same solver', () => {
    const euler20 = odeError('euler', 20);
    const euler40 = odeError('euler', 40);
    expect(euler20).toBeLessThan(0.27);
    expect(euler40 / euler20).toBeGreaterThan(0.4);
    expect(euler40 / euler20).toBeLessThan(0.6);
    // DDIM is Euler's method in the rescaled variable x / sqrt(a) (Song et al. 2021, sec. 4.3)
    expect(Math.abs(odeError('ddim', 20) - euler20)).toBeLessThan(0.01 * euler20);
  });

  it('DPM++ 2M: an order of magnitude more accurate than Euler at 20 steps', () => {
    const dpm = odeError('dpmpp_2m', 20);
    expect(dpm).toBeLessThan(0.009);
    expect(dpm).toBeLessThan(odeError('euler', 20) / 10);
  });

  it('DPM++ 2M Karras: converges as the steps grow', () => {
    const k20 = odeError('dpmpp_2m_karras', 20);
    const k40 = odeError('dpmpp_2m_karras', 40);
    expect(k20).toBeLessThan(0.037);
    expect(k40).toBeLessThan(k20 / 3);
  });
});
