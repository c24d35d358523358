/** The spectra plot's state and the measuring under way (LoRA cards, stack button, plot). */
import type { JobEvent, SpectraResult } from '../../shared/api';
import type { PlotMode } from './spectra';
import type { ChordClient } from './transport';

export type SpectraProgress = Extract<JobEvent, { type: 'spectra' }>;

export class SpectraStore {
  /** The plot is open. */
  open = $state(false);
  mode = $state<PlotMode>('difference');
  /** The last measurement the plot shows. */
  result = $state<SpectraResult | undefined>();
  /** LoRA ids being measured now. */
  measuring = $state<string[]>([]);
  progress = $state<SpectraProgress | undefined>();

  constructor(private readonly api: ChordClient) {}

  get busy(): boolean {
    return this.measuring.length > 0;
  }

  /** Measures (or reads from the engine's cache) the profiles of `ids` on `model`. */
  async measure(model: string, ids: string[]): Promise<SpectraResult> {
    this.measuring = [...ids];
    this.progress = undefined;
    try {
      return await this.api.measureSpectra({ model, loras: ids });
    } finally {
      this.measuring = [];
      this.progress = undefined;
    }
  }

  onProgress(event: SpectraProgress): void {
    if (this.busy) this.progress = event;
  }
}
