import { expect } from 'chai';
import { openApiDocument } from '../../src/http/openapi.js';
import { OPTION_RANGES } from '../../src/server/convert.js';

interface Schema {
  type?: string;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, Schema>;
  items?: Schema;
}
interface Operation {
  parameters: { name: string; schema: Schema }[];
  requestBody: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }>; headers?: Record<string, { required?: boolean }> }>;
}

const doc = openApiDocument('test') as { paths: Record<string, Record<string, Operation>> };
const page = doc.paths['/api/ocr']!.post!;
const lines = doc.paths['/api/ocr/lines']!.post!;

describe('the OpenAPI document', () => {
  it("gives each option's range as the server checks it, as parameters, form fields and JSON options", () => {
    for (const operation of [page, lines]) {
      const form = operation.requestBody.content['multipart/form-data']!.schema.properties!;
      const json = operation.requestBody.content['application/json']!.schema.properties!.options!.properties!;
      for (const [name, { min, max }] of Object.entries(OPTION_RANGES)) {
        const parameter = operation.parameters.find((p) => p.name === name)!.schema;
        for (const schema of [parameter, form[name]!, json[name]!]) expect(schema, name).to.include({ minimum: min, maximum: max });
      }
    }
  });

  it('lists the answers the routes give, and every body they take', () => {
    for (const operation of [page, lines]) {
      expect(Object.keys(operation.responses)).to.include.members([
        '200',
        '400',
        '401',
        '403',
        '408',
        '413',
        '415',
        '429',
        '503',
        '504',
        'default',
      ]);
      expect(Object.keys(operation.requestBody.content)).to.have.members([
        'multipart/form-data',
        'image/*',
        'application/octet-stream',
        'application/json',
      ]);
      expect(operation.requestBody.content['multipart/form-data']!.schema.properties).to.include.keys('timeout_ms', 'priority');
    }
    for (const route of ['/api/info', '/metrics']) expect(doc.paths[route]!.get!.responses).to.include.keys('401', '403');
    // Every route's own answers, beside what any request may meet before its route: its form refused.
    for (const [route, operations] of Object.entries(doc.paths)) {
      expect(operations, route).to.have.property('options');
      expect(operations.options!.responses, route).to.include.keys('204');
      if (operations.get) expect(operations.head?.responses, route).to.deep.equal(operations.get.responses);
      for (const [method, operation] of Object.entries(operations)) {
        expect(operation.responses, `${method} ${route}`).to.include.keys('400', '408', '417', '431', 'default');
      }
    }
  });

  it("describes /api/ocr/lines' answer, a failed item in the shape of an error answer", () => {
    const item = lines.responses['200']!.content!['application/json']!.schema.properties!.data!.items!;
    expect(item.properties).to.include.keys('text', 'confidence', 'code', 'msg', 'error');
  });

  it('lists x-request-id on every answer, Retry-After on 429 and 503, WWW-Authenticate on 401 and 403, Allow on OPTIONS and 405', () => {
    for (const [route, operations] of Object.entries(doc.paths)) {
      for (const [method, { responses }] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(responses)) {
          const what = `${method} ${route} ${status}`;
          expect(response.headers?.['x-request-id'], what).to.deep.include({ required: true });
          if (status === '429') expect(response.headers?.['Retry-After'], what).to.deep.include({ required: true });
          // Only where the gateway reaches no instance.
          if (status === '503' && route !== '/readyz') expect(response.headers?.['Retry-After'], what).to.deep.include({ required: false });
          if (status === '401' || status === '403')
            expect(response.headers?.['WWW-Authenticate'], what).to.deep.include({ required: true });
          if (status === 'default' || (method === 'options' && status === '204')) expect(response.headers, what).to.have.property('Allow');
        }
      }
    }
  });
});
