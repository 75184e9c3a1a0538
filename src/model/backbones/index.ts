import type { Backbone } from './backbone.js';
import { DLIB_RESNET } from './dlib-resnet.js';

export type { Backbone, BackboneLayers } from './backbone.js';

/** The backbones `finetune` can build on, by name; a new one is a file in this folder and a line here. */
export const BACKBONES = { 'dlib-resnet': DLIB_RESNET } satisfies Record<string, Backbone>;
export type BackboneName = keyof typeof BACKBONES;
export const BACKBONE_NAMES = Object.keys(BACKBONES) as BackboneName[];
