/**
 * The regions of the next regional image (the region editor): boxes with their prompts and bound
 * LoRAs. The stack's LoRAs stay global (the whole image); a LoRA bound here acts in its box only.
 */
import { LIMITS, type GenerateRequestInput, type ImageSettings, type LoraEntry } from '../../shared/api';
import { boxOf, freeBox, MAX_REGIONS, regionProblems, toRequestRegions, type Box, type EditorRegion } from './regions';

export type Region = EditorRegion<LoraEntry>;

export class RegionsStore {
  items = $state<Region[]>([]);
  /** The region the keyboard acts on (Delete, arrows), by index. */
  selected = $state<number | undefined>();
  /** Boxes drawn over result images (gallery and preview). */
  showOverlay = $state(true);
  /** Why the last action was refused, until the next one. */
  refused = $state<string | undefined>();

  /** The engine's rules the current boxes break, one line each. */
  readonly problems = $derived(regionProblems(this.items.map((r) => r.box)));

  /** Adds a region; false (and a line in `refused`) when the limit is reached. */
  add(box: Box): boolean {
    if (this.items.length >= MAX_REGIONS) {
      this.refused = `At most ${MAX_REGIONS} regions: delete one to draw another.`;
      return false;
    }
    this.refused = undefined;
    this.items.push({ box, prompt: '', negative: '', loras: [] });
    this.selected = this.items.length - 1;
    return true;
  }

  /** Adds a box in the first free place (the keyboard way to draw one). */
  addFree(): void {
    const box = freeBox(this.items.map((r) => r.box));
    if (!box) {
      this.refused = 'No free place for a new box: draw it by dragging, or make room first.';
      return;
    }
    this.add(box);
  }

  remove(index: number): void {
    this.items.splice(index, 1);
    this.refused = undefined;
    if (this.selected === undefined) return;
    if (this.selected === index) this.selected = undefined;
    else if (this.selected > index) this.selected--;
  }

  setBox(index: number, box: Box): void {
    const region = this.items[index];
    if (region) region.box = box;
  }

  /** Binds a LoRA to a region (once; again: its weight is kept). */
  bind(index: number, lora: LoraEntry, weight = 1): void {
    const region = this.items[index];
    if (!region) return;
    if (lora.missing) {
      this.refused = `${lora.name}: the file is missing, so it cannot be bound.`;
      return;
    }
    if (region.loras.some((l) => l.lora.id === lora.id)) return;
    if (region.loras.length >= LIMITS.loras) {
      this.refused = `At most ${LIMITS.loras} LoRAs per region.`;
      return;
    }
    this.refused = undefined;
    region.loras.push({ lora, weight });
  }

  unbind(index: number, loraId: string): void {
    const region = this.items[index];
    if (region) region.loras = region.loras.filter((l) => l.lora.id !== loraId);
  }

  setWeight(index: number, loraId: string, weight: number): void {
    const bound = this.items[index]?.loras.find((l) => l.lora.id === loraId);
    if (bound) bound.weight = Math.max(LIMITS.loraWeight.min, Math.min(LIMITS.loraWeight.max, weight));
  }

  /** The request's `regions`. */
  request(): NonNullable<GenerateRequestInput['regions']> {
    return toRequestRegions($state.snapshot(this.items) as Region[]);
  }

  /**
   * Takes an image's regions (Reuse settings, a dropped PNG); returns the names of bound LoRAs the
   * library does not hold.
   */
  restore(settings: ImageSettings, find: (path: string) => LoraEntry | undefined): string[] {
    const unknown: string[] = [];
    this.items = (settings.regions ?? []).map((g) => ({
      box: boxOf(g.box),
      prompt: g.prompt,
      negative: g.negative,
      loras: g.loras.flatMap((k) => {
        const l = settings.loras[k];
        const entry = l?.path ? find(l.path) : undefined;
        if (!entry) {
          if (l) unknown.push(l.name);
          return [];
        }
        return [{ lora: entry, weight: l.weight }];
      }),
    }));
    this.selected = undefined;
    this.refused = undefined;
    return unknown;
  }

  /** Keeps bound cards in step with the library (edits, removals). */
  sync(loras: LoraEntry[]): void {
    for (const region of this.items) {
      region.loras = region.loras.flatMap((l) => {
        const now = loras.find((x) => x.id === l.lora.id);
        return now ? [{ lora: now, weight: l.weight }] : [];
      });
    }
  }
}
