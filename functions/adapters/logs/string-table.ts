/**
 * Strings by small integer ids: the ingester hands rows around with their text columns as ids, so a
 * log of ten million lines that names a few hundred requesters and datasets decodes each of them once.
 */

/** Strings by a small integer id, each string once; ids are dense and start at 0. */
export class StringTable {
  readonly values: string[] = [];
  private readonly ids = new Map<string, number>();

  id(value: string): number {
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.ids.set(value, id);
    }
    return id;
  }
}
