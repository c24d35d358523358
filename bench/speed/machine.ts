/** The machine a benchmark ran on, as the results page states it. */
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { env } from 'onnxruntime-node';

export interface MachineInfo {
  cpu: string;
  /** logical cores */
  cores: number;
  memoryGiB: number;
  freeMemoryGiB: number;
  os: string;
  node: string;
  onnxruntime: string;
  provider: string;
  /** intra-op threads: a number, or ONNX Runtime's default */
  threads: string;
  /** 1-minute load average when the benchmark started (other work on the machine) */
  loadAverage: number;
}

export function machineInfo(threads: number | undefined): MachineInfo {
  const list = cpus();
  const gib = (bytes: number) => Math.round((bytes / 2 ** 30) * 10) / 10;
  return {
    cpu: (list[0]?.model ?? 'unknown').trim(),
    cores: list.length,
    memoryGiB: gib(totalmem()),
    freeMemoryGiB: gib(freemem()),
    os: `${process.platform} ${release()} ${process.arch}`,
    node: process.version,
    onnxruntime: `onnxruntime-node ${env.versions.node ?? env.versions.common}`,
    provider: 'CPU (CPUExecutionProvider)',
    threads: threads ? String(threads) : 'ONNX Runtime default (one per core)',
    loadAverage: Math.round(loadavg()[0] * 100) / 100,
  };
}
