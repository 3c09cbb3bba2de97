/**
 * ONNX wants a graph's nodes in topological order: each value a node reads is a graph input, an
 * initializer, or an output of a node before it. The rewrites add nodes wherever is convenient
 * (simplify.ts puts its folded constants and BatchNormalizations first, ahead of the values they
 * read); onnxruntime sorts for itself, but ONNX's checker and other tools do not.
 */
import type { OnnxNode } from './model.js';

/** A binary min-heap of node positions: among the nodes ready, the earliest in the old order goes first. */
class ReadyPositions {
  private readonly heap: number[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(position: number): void {
    const h = this.heap;
    h.push(position);
    for (let i = h.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= h[i]!) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  pop(): number {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length === 0) return top;
    h[0] = last;
    for (let i = 0; ;) {
      const [l, r] = [2 * i + 1, 2 * i + 2];
      let least = i;
      if (l < h.length && h[l]! < h[least]!) least = l;
      if (r < h.length && h[r]! < h[least]!) least = r;
      if (least === i) break;
      [h[least], h[i]] = [h[i]!, h[least]!];
      i = least;
    }
    return top;
  }
}

/**
 * The nodes in topological order (Kahn's algorithm), otherwise as close to their order as can be:
 * a graph already in order comes back unchanged. A value no node produces (a graph input, an
 * initializer, the empty name of an omitted optional input) holds nothing back. `implicitReads`
 * names what else a node reads: the outer values its subgraphs use.
 */
export function topologicalOrder(nodes: readonly OnnxNode[], implicitReads: (node: OnnxNode) => readonly string[] = () => []): OnnxNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((node, i) => node.outputs.forEach((out) => out && producer.set(out, i)));
  const waitingFor = new Array<number>(nodes.length).fill(0);
  const dependents: number[][] = nodes.map(() => []);
  nodes.forEach((node, i) => {
    const producers = new Set<number>();
    for (const value of [...node.inputs, ...implicitReads(node)]) {
      const p = value ? producer.get(value) : undefined;
      if (p !== undefined) producers.add(p);
    }
    waitingFor[i] = producers.size;
    for (const p of producers) dependents[p]!.push(i);
  });
  const ready = new ReadyPositions();
  waitingFor.forEach((n, i) => n === 0 && ready.push(i));
  const order: OnnxNode[] = [];
  while (ready.size > 0) {
    const i = ready.pop();
    order.push(nodes[i]!);
    for (const d of dependents[i]!) if (--waitingFor[d] === 0) ready.push(d);
  }
  if (order.length < nodes.length) {
    const stuck = nodes.find((_, i) => waitingFor[i]! > 0)!;
    throw new Error(`the graph has a cycle: node ${stuck.name || stuck.outputs[0]} (${stuck.opType}) is on one or after one`);
  }
  return order;
}
