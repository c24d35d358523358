// Expected numbers come from test/schedulers/reference.py: an independent float64 numpy
// re-derivation of diffusers' scheduler formulas (run with /usr/bin/python3), pasted here.
import { describe, expect, it } from 'vitest';
import {
  DdimScheduler,
  DpmSolverMultistepScheduler,
  EulerAncestralScheduler,
  EulerScheduler,
  LcmScheduler,
  SD15_SCHEDULER_CONFIG,
  type SchedulerConfig,
  type TimestepSpacing,
} from '../../src/engine/schedulers';
import { lcmTimesteps } from '../../src/engine/schedulers/lcm';
import { roundHalfEven, trainingSchedule } from '../../src/engine/schedulers/schedule';
import { expectClose } from './close';

const SD15: SchedulerConfig = { ...SD15_SCHEDULER_CONFIG };
const withSpacing = (timestepSpacing: TimestepSpacing): SchedulerConfig => ({ ...SD15, timestepSpacing });

describe('training schedule (SD 1.5 scaled_linear 0.00085..0.012)', () => {
  it('matches alpha-bar and sigma at both ends and the middle', () => {
    const { alphasCumprod, sigmas } = trainingSchedule(SD15);
    expectClose([alphasCumprod[0], alphasCumprod[499], alphasCumprod[999]], [0.99914999999999998, 0.27766965045646763, 0.0046600985130772384], 1e-12, 0);
    expectClose([sigmas[0], sigmas[999]], [0.029167158151720367, 14.614641229333639], 1e-12, 0);
  });

  it('rounds half to even like numpy', () => {
    expect([0.5, 1.5, 2.5, 499.5, -0.5, -1.5, 2.4999].map(roundHalfEven)).toEqual([0, 2, 2, 500, -0, -2, 2]);
  });
});

describe('Euler and Euler ancestral sigmas', () => {
  it.each([EulerScheduler, EulerAncestralScheduler])('%o: 10 steps, leading + offset 1', (Ctor) => {
    const s = new Ctor(SD15);
    s.setTimesteps(10);
    expect(Array.from(s.timesteps)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expectClose(s.sigmas, [8.39068477022, 5.13443111752, 3.34776358066, 2.29285382179, 1.62369208152, 1.16821595505, 0.835652808033, 0.574050259463, 0.346186706381, 0.0413144119968, 0], 1e-10, 0);
    expect(s.initNoiseSigma).toBeCloseTo(8.450064550829065, 10);
  });

  it('20 steps, leading + offset 1', () => {
    const s = new EulerScheduler(SD15);
    s.setTimesteps(20);
    expect(Array.from(s.timesteps)).toEqual([951, 901, 851, 801, 751, 701, 651, 601, 551, 501, 451, 401, 351, 301, 251, 201, 151, 101, 51, 1]);
    expectClose(s.sigmas, [11.0283311648, 8.39068477022, 6.50639783753, 5.13443111752, 4.11669647928, 3.34776358066, 2.75619585403, 2.29285382179, 1.92344331487, 1.62369208152, 1.37617891075, 1.16821595505, 0.990408876827, 0.835652808033, 0.698398091163, 0.574050259463, 0.458332700961, 0.346186706381, 0.228146736448, 0.0413144119968, 0], 1e-10, 0);
    expect(s.initNoiseSigma).toBeCloseTo(11.073576128782985, 10);
  });

  it('trailing starts at the last training step, with unscaled sigma_max as initial noise', () => {
    const s = new EulerScheduler(withSpacing('trailing'));
    s.setTimesteps(10);
    expect(Array.from(s.timesteps)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    expectClose(s.sigmas, [14.6146412293, 8.30280319105, 5.08776318268, 3.32108312985, 2.27646306576, 1.6128861943, 1.16057832195, 0.829859528175, 0.56928488835, 0.341673832281, 0], 1e-10, 0);
    expect(s.initNoiseSigma).toBeCloseTo(14.614641229333639, 10);
  });

  it('linspace keeps fractional (float32) timesteps and interpolates sigmas between them', () => {
    const s = new EulerScheduler(withSpacing('linspace'));
    s.setTimesteps(10);
    expect(Array.from(s.timesteps)).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    expectClose(s.sigmas, [14.6146412293, 7.83988287282, 4.60917413389, 2.91830711543, 1.95016147063, 1.34492778335, 0.932357966835, 0.624976918012, 0.368657745415, 0.0291671581517, 0], 1e-10, 0);
    s.setTimesteps(20);
    expectClose(s.timesteps, [999, 946.421082, 893.842102, 841.263184, 788.684204, 736.105286, 683.526306, 630.947388, 578.368408, 525.78949, 473.210541, 420.631592, 368.052643, 315.473694, 262.894745, 210.315796, 157.736847, 105.157898, 52.578949, 0], 1e-8, 0);
    expectClose(s.sigmas, [14.6146412293, 10.7468457388, 8.08153389781, 6.20494921911, 4.85566312186, 3.8653826745, 3.12376739428, 2.55716705719, 2.11566071057, 1.76482433665, 1.4805820235, 1.24581477384, 1.04814237251, 0.878429455476, 0.729719171503, 0.59643463787, 0.473585778225, 0.355546363674, 0.232167634741, 0.0291671581517, 0], 1e-10, 0);
    expect(s.initNoiseSigma).toBeCloseTo(14.614641229333639, 10);
  });

  it('scales the model input by 1 / sqrt(sigma^2 + 1)', () => {
    const s = new EulerScheduler(SD15);
    s.setTimesteps(10);
    const scaled = s.scaleModelInput(new Float32Array([8.450064550829065, -1]), 0);
    expectClose(scaled, [1, -1 / 8.450064550829065], 1e-6, 0);
  });
});

describe('DDIM timesteps', () => {
  it('leading + offset 1 at 10 and 20 steps; unit initial noise', () => {
    const s = new DdimScheduler(SD15);
    s.setTimesteps(10);
    expect(Array.from(s.timesteps)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(s.initNoiseSigma).toBe(1);
    s.setTimesteps(20);
    expect(Array.from(s.timesteps)).toEqual([951, 901, 851, 801, 751, 701, 651, 601, 551, 501, 451, 401, 351, 301, 251, 201, 151, 101, 51, 1]);
  });

  it('trailing and (rounded) linspace', () => {
    const t = new DdimScheduler(withSpacing('trailing'));
    t.setTimesteps(10);
    expect(Array.from(t.timesteps)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    const l = new DdimScheduler(withSpacing('linspace'));
    l.setTimesteps(10);
    expect(Array.from(l.timesteps)).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
  });

  it('passes the sample through unscaled', () => {
    const s = new DdimScheduler(SD15);
    s.setTimesteps(4);
    const x = new Float32Array([1, 2]);
    expect(s.scaleModelInput(x, 0)).toBe(x);
  });
});

describe('DPM++ 2M timesteps and sigmas', () => {
  it('leading spaces steps + 1 points and drops t = 0 (10 steps)', () => {
    const s = new DpmSolverMultistepScheduler(SD15);
    s.setTimesteps(10);
    expect(Array.from(s.timesteps)).toEqual([901, 811, 721, 631, 541, 451, 361, 271, 181, 91]);
    expectClose(s.sigmas, [8.39068477022, 5.37633474532, 3.63065318211, 2.55766355509, 1.85856054587, 1.37617891075, 1.02392532676, 0.751508562087, 0.526975425309, 0.323532633506, 0], 1e-10, 0);
    expect(s.initNoiseSigma).toBe(1);
  });

  it('leading at 20 steps', () => {
    const s = new DpmSolverMultistepScheduler(SD15);
    s.setTimesteps(20);
    expect(Array.from(s.timesteps)).toEqual([941, 894, 847, 800, 753, 706, 659, 612, 565, 518, 471, 424, 377, 330, 283, 236, 189, 142, 95, 48]);
    expectClose(s.sigmas, [10.4250408351, 8.08817709548, 6.38030927256, 5.11102765821, 4.15205727077, 3.41570179275, 2.8411612169, 2.38571562679, 2.01896127259, 1.71898882605, 1.46981441239, 1.25962884756, 1.07958660163, 0.92295214195, 0.784479554094, 0.659932644465, 0.545656628817, 0.438061732665, 0.332622976528, 0.220409748554, 0], 1e-10, 0);
  });

  it('trailing and linspace (linspace rounds 499.5 to 500, half to even)', () => {
    const t = new DpmSolverMultistepScheduler(withSpacing('trailing'));
    t.setTimesteps(10);
    expect(Array.from(t.timesteps)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    const l = new DpmSolverMultistepScheduler(withSpacing('linspace'));
    l.setTimesteps(10);
    expect(Array.from(l.timesteps)).toEqual([999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
  });

  it('Karras: sigmas from sigma_max to sigma_min (rho 7), timesteps rounded back from them', () => {
    const s = new DpmSolverMultistepScheduler(SD15, true);
    expect(s.name).toBe('dpmpp_2m_karras');
    s.setTimesteps(10);
    expect(Array.from(s.timesteps)).toEqual([999, 916, 815, 687, 523, 327, 146, 41, 7, 0]);
    expectClose(s.sigmas, [14.6146412293, 9.10292813405, 5.47839198644, 3.16860307296, 1.74941704925, 0.914072265031, 0.446918209373, 0.20139829978, 0.0819102383203, 0.0291671581517, 0], 1e-10, 0);
    s.setTimesteps(20);
    expect(Array.from(s.timesteps)).toEqual([999, 962, 921, 876, 827, 772, 710, 640, 561, 474, 380, 285, 197, 123, 69, 35, 15, 6, 2, 0]);
    expectClose(s.sigmas, [14.6146412293, 11.7253648495, 9.34020275179, 7.38361734897, 5.78941170721, 4.49983503683, 3.46474721768, 2.64084034287, 1.99091526475, 1.48321112713, 1.09078586767, 0.790945674276, 0.564721379569, 0.396389777204, 0.273037844092, 0.184167852368, 0.12134135508, 0.0778600294858, 0.0484813619235, 0.0291671581517, 0], 1e-10, 0);
  });
});

describe('LCM timesteps', () => {
  it('picks evenly spread indices of the 50-step distillation grid, ignoring spacing/offset', () => {
    const s = new LcmScheduler(SD15);
    s.setTimesteps(4);
    expect(Array.from(s.timesteps)).toEqual([999, 759, 499, 259]);
    s.setTimesteps(8);
    expect(Array.from(s.timesteps)).toEqual([999, 879, 759, 639, 499, 379, 259, 139]);
    s.setTimesteps(20);
    expect(Array.from(s.timesteps)).toEqual([999, 959, 899, 859, 799, 759, 699, 659, 599, 559, 499, 459, 399, 359, 299, 259, 199, 159, 99, 59]);
    expect(s.initNoiseSigma).toBe(1);
  });

  it('10 steps land on every fifth grid point', () => {
    expect(Array.from(lcmTimesteps(1000, 50, 10))).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  });

  it('refuses more steps than the distillation grid has', () => {
    expect(() => new LcmScheduler(SD15).setTimesteps(51)).toThrow(/1 to 50/);
  });
});

describe('step counts', () => {
  it('rejects zero, fractional and absurd step counts with an actionable message', () => {
    const s = new EulerScheduler(SD15);
    expect(() => s.setTimesteps(0)).toThrow(/whole number of steps from 1 to 500/);
    expect(() => s.setTimesteps(2.5)).toThrow(/got 2\.5/);
    expect(() => s.setTimesteps(501)).toThrow(/1 to 500/);
  });

  it('trailing gives exactly `steps` timesteps where numpy.arange would add a -1 (61 steps)', () => {
    const s = new DdimScheduler(withSpacing('trailing'));
    s.setTimesteps(61);
    expect(s.timesteps.length).toBe(61);
    expect(Math.min(...s.timesteps)).toBeGreaterThanOrEqual(0);
  });
});
