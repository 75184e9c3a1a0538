/**
 * One face's answer as JSON Schema: the one contract of `predict --json` (its `face` lines), the HTTP API
 * (`faces` items, and its OpenAPI document) and the library's Face objects. src/infer/types.ts's FaceResult
 * is the TypeScript side of the same shape; test/face-schema.test.ts holds all three against this.
 */
export const BOX_SCHEMA = {
  $id: 'agegender-box',
  type: 'object',
  description: 'Where the face is, in pixels of the original (EXIF-oriented) image.',
  required: ['x', 'y', 'w', 'h'],
  additionalProperties: false,
  properties: {
    x: { type: 'number' },
    y: { type: 'number' },
    w: { type: 'number', minimum: 0 },
    h: { type: 'number', minimum: 0 },
  },
} as const;

export const FACE_SCHEMA = {
  $id: 'agegender-face',
  type: 'object',
  description: 'One face: where it is, its age (DEX expectation) and gender.',
  required: ['box', 'score', 'age', 'ageSpread', 'gender', 'pMale', 'pFemale', 'label'],
  additionalProperties: false,
  properties: {
    box: BOX_SCHEMA,
    score: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      description: 'detector confidence; 1 without detection',
    },
    age: { type: 'number', minimum: 0, maximum: 100, description: 'years: sum of p(age) * age' },
    ageSpread: { type: 'number', minimum: 0, description: 'standard deviation of the age distribution' },
    gender: { type: 'string', enum: ['M', 'F'] },
    pMale: { type: 'number', minimum: 0, maximum: 1 },
    pFemale: { type: 'number', minimum: 0, maximum: 1 },
    label: { type: 'string', pattern: '^[MF]/\\d{1,3}$', description: 'the answer as text, e.g. M/46' },
  },
} as const;
