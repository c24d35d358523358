/**
 * The files of a drop, folders included: a dropped folder is walked (its sub-folders too) through
 * the browser's file-system entries, so dropping a LoRA folder adds every file in it. The entries
 * must be taken while the drop event runs; reading them may take longer.
 */

/** The part of the File and Directory Entries API a drop needs (FileSystemEntry and kin). */
export interface DropEntry {
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly name: string;
  file?(success: (file: File) => void, failure?: (error: unknown) => void): void;
  createReader?(): { readEntries(success: (entries: DropEntry[]) => void, failure?: (error: unknown) => void): void };
}

const MAX_DEPTH = 4;

/** Call inside the drop handler, before any await. */
export function dropEntries(event: DragEvent): { entries: DropEntry[]; files: File[] } {
  const items = Array.from(event.dataTransfer?.items ?? []);
  const entries = items.map((item) => item.webkitGetAsEntry?.() as DropEntry | null | undefined).filter((e): e is DropEntry => !!e);
  // without entries (an old browser, a synthetic drop) the plain file list is all there is
  return { entries, files: Array.from(event.dataTransfer?.files ?? []) };
}

export async function filesOf(drop: { entries: DropEntry[]; files: File[] }): Promise<File[]> {
  if (drop.entries.length === 0 || !drop.entries.some((e) => e.isDirectory)) return drop.files;
  const out: File[] = [];
  const walk = async (entry: DropEntry, depth: number): Promise<void> => {
    if (entry.isFile && entry.file) {
      out.push(await new Promise<File>((resolve, reject) => entry.file?.(resolve, reject)));
    } else if (entry.isDirectory && entry.createReader && depth < MAX_DEPTH && !entry.name.startsWith('.')) {
      const reader = entry.createReader();
      // readEntries answers in batches until it answers with none
      for (;;) {
        const batch = await new Promise<DropEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, depth + 1);
      }
    }
  };
  for (const entry of drop.entries) await walk(entry, 0);
  return out;
}
