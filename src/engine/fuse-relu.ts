/**
 * A layers model's topology (model.json's modelTopology) with each ReLU that directly follows a
 * convolution moved into it: the Conv2D gets activation 'relu' (tfjs then runs conv, bias and relu as one
 * fused kernel) and the ReLU layer becomes a 'linear' Activation (no kernel at all). relu(conv + bias) is
 * computed the same either way, so answers do not change; the default model's dlib ResNet has 15 such
 * pairs, each a full pass over a 2 x faces x 73 x 73 x 32 (or smaller) activation saved per forward.
 * For inference only: a model trained further should keep the topology it was saved with.
 */

interface LayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
}

/** Returns a copy of `topology` with the Conv2D -> ReLU pairs fused (the input is not changed). */
export function fuseConvRelu(topology: object): object {
  const copy = structuredClone(topology) as { config?: { layers?: LayerJson[]; output_layers?: unknown[] } };
  const layers = copy.config?.layers;
  if (!Array.isArray(layers)) return copy;
  const outputs = new Set((copy.config?.output_layers ?? []).map((o) => (Array.isArray(o) ? o[0] : o)));
  const consumers = new Map<string, LayerJson[]>();
  for (const layer of layers)
    for (const source of inboundNames(layer))
      consumers.set(source, [...(consumers.get(source) ?? []), layer]);
  for (const conv of layers) {
    if (conv.class_name !== 'Conv2D' || (conv.config.activation ?? 'linear') !== 'linear') continue;
    if (outputs.has(conv.name) || conv.inbound_nodes.length !== 1) continue;
    const users = consumers.get(conv.name) ?? [];
    const relu = users[0];
    if (users.length !== 1 || !relu || !isPlainRelu(relu) || relu.inbound_nodes.length !== 1) continue;
    conv.config.activation = 'relu';
    relu.class_name = 'Activation';
    relu.config = { name: relu.config.name, trainable: relu.config.trainable, activation: 'linear' };
  }
  return copy;
}

/** A ReLU layer that is max(x, 0) exactly (no cap, no leak, no threshold). */
function isPlainRelu(layer: LayerJson): boolean {
  const c = layer.config;
  if (layer.class_name === 'Activation') return c.activation === 'relu';
  return (
    layer.class_name === 'ReLU' &&
    (c.max_value ?? null) === null &&
    ((c.negative_slope as number | undefined) ?? 0) === 0 &&
    ((c.threshold as number | undefined) ?? 0) === 0
  );
}

/** Names of the layers feeding `layer` (Keras functional format: [[[name, node, tensor, kwargs], ...]]). */
function inboundNames(layer: LayerJson): string[] {
  const names: string[] = [];
  for (const node of layer.inbound_nodes)
    if (Array.isArray(node)) for (const edge of node) if (Array.isArray(edge)) names.push(String(edge[0]));
  return names;
}
