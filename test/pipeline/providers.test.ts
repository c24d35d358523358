import { describe, expect, it } from 'vitest';
import { parseProviderChoice, providerPlan, type ProviderEnvironment } from '../../src/engine/model/providers';
import { shortOrtMessage } from '../../src/engine/model/session';

const linux: ProviderEnvironment = { platform: 'linux', backends: ['cpu', 'webgpu', 'cuda', 'tensorrt'], cudaLibraryPresent: false };

describe('execution providers', () => {
  it('auto: the platform GPU provider when it can load, then CPU', () => {
    expect(providerPlan('auto', linux)).toEqual(['cpu']);
    expect(providerPlan('auto', { ...linux, cudaLibraryPresent: true })).toEqual(['cuda', 'cpu']);
    expect(providerPlan('auto', { platform: 'win32', backends: ['cpu', 'dml', 'webgpu'], cudaLibraryPresent: false })).toEqual(['dml', 'cpu']);
    expect(providerPlan('auto', { platform: 'darwin', backends: ['cpu', 'coreml', 'webgpu'], cudaLibraryPresent: false })).toEqual(['coreml', 'cpu']);
    expect(providerPlan('auto', { platform: 'freebsd', backends: ['cpu'], cudaLibraryPresent: false })).toEqual(['cpu']);
  });

  it('an explicit provider is tried first with CPU as fallback; one not in the build is an error', () => {
    expect(providerPlan('webgpu', linux)).toEqual(['webgpu', 'cpu']);
    expect(providerPlan('cpu', linux)).toEqual(['cpu']);
    // CUDA is listed but its library missing: tried, and falls back with a notice at session time
    expect(providerPlan('cuda', linux)).toEqual(['cuda', 'cpu']);
    expect(() => providerPlan('dml', linux)).toThrow(/DirectML is not available in this build of ONNX Runtime \(available: cpu, webgpu, cuda\)/);
  });

  it('parses names and aliases', () => {
    expect(parseProviderChoice('CUDA')).toBe('cuda');
    expect(parseProviderChoice('directml')).toBe('dml');
    expect(parseProviderChoice('auto')).toBe('auto');
    expect(() => parseProviderChoice('tpu')).toThrow(/Unknown provider "tpu"/);
  });

  it('shortens ONNX Runtime messages to what a user can read', () => {
    const webgpu =
      '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters\n';
    expect(shortOrtMessage(new Error(webgpu))).toBe(
      'adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters',
    );
    expect(shortOrtMessage(new Error('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library'))).toBe(
      'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library',
    );
  });
});
