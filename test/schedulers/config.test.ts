import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ChordError } from '../../src/engine/errors';
import {
  createScheduler,
  loadSchedulerConfig,
  parseSchedulerConfig,
  SAMPLER_NAMES,
  SD15_SCHEDULER_CONFIG,
} from '../../src/engine/schedulers';

const SD15_DIR = fileURLToPath(new URL('../fixtures/sd15-layout', import.meta.url));

const RAW_SD15 = {
  _class_name: 'PNDMScheduler',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  steps_offset: 1,
  timestep_spacing: 'leading',
};

function chordError(fn: () => unknown): ChordError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ChordError) return e;
    throw e;
  }
  throw new Error('expected a ChordError');
}

describe('loadSchedulerConfig', () => {
  it("reads the real SD 1.5 file into SD 1.5's settings", async () => {
    expect(await loadSchedulerConfig(SD15_DIR)).toEqual(SD15_SCHEDULER_CONFIG);
  });

  it('says which file is missing and what to pick instead', async () => {
    const err = await loadSchedulerConfig('/nonexistent/model').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChordError);
    expect((err as ChordError).code).toBe('FILE_NOT_FOUND');
    expect((err as ChordError).message).toContain(join('/nonexistent/model', 'scheduler', 'scheduler_config.json'));
  });

  it('reports broken JSON as SCHEDULER_INVALID', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chord-sched-'));
    await mkdir(join(dir, 'scheduler'));
    await writeFile(join(dir, 'scheduler', 'scheduler_config.json'), '{"beta_start": ');
    const err = await loadSchedulerConfig(dir).catch((e: unknown) => e);
    expect((err as ChordError).code).toBe('SCHEDULER_INVALID');
    expect((err as ChordError).message).toMatch(/not valid JSON/);
  });
});

describe('parseSchedulerConfig', () => {
  it('fills the optional fields with their defaults', () => {
    const c = parseSchedulerConfig({ num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' });
    expect(c).toMatchObject({
      predictionType: 'epsilon',
      timestepSpacing: 'leading',
      stepsOffset: 0,
      setAlphaToOne: true,
      clipSample: false,
      trainedBetas: null,
      originalInferenceSteps: 50,
      timestepScaling: 10,
    });
  });

  it('accepts v_prediction and trailing (SD 2.x style)', () => {
    const c = parseSchedulerConfig({ ...RAW_SD15, prediction_type: 'v_prediction', timestep_spacing: 'trailing' });
    expect(c.predictionType).toBe('v_prediction');
    expect(c.timestepSpacing).toBe('trailing');
  });

  it.each([
    [{ beta_schedule: 'squaredcos_cap_v2' }, /beta_schedule must be "linear" or "scaled_linear" \(got "squaredcos_cap_v2"\)/],
    [{ prediction_type: 'sample' }, /prediction_type must be "epsilon" or "v_prediction" \(got "sample"\)/],
    [{ timestep_spacing: 'uniform' }, /timestep_spacing must be "leading", "trailing" or "linspace"/],
    [{ num_train_timesteps: 999.5 }, /num_train_timesteps must be a whole number/],
    [{ beta_start: 1.5 }, /beta_start must be a number between 0 and 1 \(got 1\.5\)/],
    [{ beta_end: '0.012' }, /beta_end must be a number between 0 and 1 \(got "0\.012"\)/],
    [{ steps_offset: -1 }, /steps_offset must be a whole number from 0/],
    [{ set_alpha_to_one: 'no' }, /set_alpha_to_one must be true or false/],
    [{ thresholding: true }, /thresholding is not supported by Chord/],
    [{ rescale_betas_zero_snr: true }, /rescale_betas_zero_snr is not supported/],
    [{ trained_betas: [0.1, 0.2] }, /trained_betas has 2 values but num_train_timesteps is 1000/],
  ])('names the bad field and the fix: %o', (patch, message) => {
    const err = chordError(() => parseSchedulerConfig({ ...RAW_SD15, ...patch }, 'model/scheduler/scheduler_config.json'));
    expect(err.code).toBe('SCHEDULER_INVALID');
    expect(err.message).toMatch(/^model\/scheduler\/scheduler_config\.json: /);
    expect(err.message).toMatch(message);
    expect(err.hint).toMatch(/Fix that value/);
  });

  it('names a missing required field', () => {
    const { beta_start: _dropped, ...rest } = RAW_SD15;
    expect(() => parseSchedulerConfig(rest)).toThrow('scheduler_config.json: beta_start is missing.');
  });

  it('rejects a non-object', () => {
    expect(() => parseSchedulerConfig([1, 2])).toThrow(/must hold a JSON object/);
  });

  it('uses trained_betas when given', () => {
    const betas = Array.from({ length: 10 }, () => 0.1);
    const c = parseSchedulerConfig({ ...RAW_SD15, num_train_timesteps: 10, trained_betas: betas, original_inference_steps: 5 });
    const s = createScheduler('ddim', c);
    s.setTimesteps(2);
    // a-bar_t = 0.9^(t+1); leading with ratio 10 // 2 = 5 and offset 1 -> timesteps 6 and 1
    expect(Array.from(s.timesteps)).toEqual([6, 1]);
    const out = s.step(new Float32Array([0]), 0, new Float32Array([1]));
    // eps = 0: x0 = x / sqrt(a_6), next = sqrt(a_1) x0
    expect(out[0]).toBeCloseTo(Math.sqrt(0.9 ** 2 / 0.9 ** 7), 6);
  });
});

describe('createScheduler', () => {
  it('makes every named sampler', () => {
    for (const name of SAMPLER_NAMES) expect(createScheduler(name, SD15_SCHEDULER_CONFIG).name).toBe(name);
  });

  it('lists the valid names for an unknown one', () => {
    const err = chordError(() => createScheduler('heun', SD15_SCHEDULER_CONFIG));
    expect(err.code).toBe('BAD_ARGUMENT');
    expect(err.message).toBe('Unknown sampler "heun". Choose one of: euler, euler_a, ddim, dpmpp_2m, dpmpp_2m_karras, lcm.');
  });
});
