import { expect } from 'chai';
import { fromBinary, isFieldSet } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  FileDescriptorProtoSchema,
} from '@bufbuild/protobuf/wkt';
import { loadSync } from '@grpc/proto-loader';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { completeNames, mapEntryName, resolve } from '../../src/server/descriptor-names.js';
import { OCR_PROTO } from '../../src/server/reflection.js';

describe('descriptor names as protoc writes them (completeNames)', () => {
  it('resolves a relative type name from the innermost scope outwards, as C++ scoping does', () => {
    const known = new Set(['a.b.Outer', 'a.b.Outer.Inner', 'a.Inner', 'Top']);
    expect(resolve('Inner', 'a.b.Outer', known)).to.equal('.a.b.Outer.Inner');
    expect(resolve('Inner', 'a.b.Other', known)).to.equal('.a.Inner');
    expect(resolve('Outer.Inner', 'a.b.Other', known)).to.equal('.a.b.Outer.Inner');
    expect(resolve('Top', 'a.b.Outer', known)).to.equal('.Top');
  });

  it('leaves full names, empty names and names it cannot find as they are', () => {
    const known = new Set(['a.X']);
    expect(resolve('.a.X', 'a.Y', known)).to.equal('.a.X');
    expect(resolve('', 'a.Y', known)).to.equal('');
    expect(resolve('Missing', 'a.Y', known)).to.equal('Missing');
  });

  it("qualifies every reference and sets JSON names in proto-loader's descriptors of ocr.proto", () => {
    const definition = loadSync(OCR_PROTO, { keepCase: true });
    const files = (definition['ocr.v1.RecognizeResponse'] as { fileDescriptorProtos: Buffer[] }).fileDescriptorProtos;
    const [file] = completeNames(files).map((b) => fromBinary(FileDescriptorProtoSchema, b));
    const fields = file!.messageType.flatMap((m) => m.field);
    expect(fields.filter((f) => f.typeName && !f.typeName.startsWith('.ocr.v1.')).map((f) => f.typeName)).to.deep.equal([]);
    expect(fields.find((f) => f.name === 'instance_id')!.jsonName).to.equal('instanceId');
    // protoc writes no type name for a scalar field, and reads an empty one as a type called "".
    const scalar = fields.find((f) => f.name === 'instance_id')!;
    expect(isFieldSet(scalar, FieldDescriptorProtoSchema.field.typeName)).to.equal(false);
    const recognize = file!.service[0]!.method.find((m) => m.name === 'Recognize')!;
    expect([recognize.inputType, recognize.outputType]).to.deep.equal(['.ocr.v1.RecognizeRequest', '.ocr.v1.RecognizeResponse']);
  });

  it("names map entries as protoc's MapEntryName does", () => {
    expect(mapEntryName('statuses')).to.equal('StatusesEntry');
    expect(mapEntryName('per_model_ms')).to.equal('PerModelMsEntry');
    expect(mapEntryName('a__b')).to.equal('ABEntry');
    expect(mapEntryName('x_1y')).to.equal('X1yEntry');
    expect(mapEntryName('_lead')).to.equal('LeadEntry');
    expect(mapEntryName('keep_Upper')).to.equal('KeepUpperEntry');
  });

  it("rewrites proto-loader's map entry of health.proto as protoc writes it (StatusesEntry)", () => {
    const definition = loadSync(healthProtoPath, { keepCase: true });
    const files = (definition['grpc.health.v1.HealthListResponse'] as { fileDescriptorProtos: Buffer[] }).fileDescriptorProtos;
    const [file] = completeNames(files).map((b) => fromBinary(FileDescriptorProtoSchema, b));
    const list = file!.messageType.find((m) => m.name === 'HealthListResponse')!;
    const statuses = list.field.find((f) => f.name === 'statuses')!;
    expect([statuses.label, statuses.type, statuses.typeName]).to.deep.equal([
      FieldDescriptorProto_Label.REPEATED,
      FieldDescriptorProto_Type.MESSAGE,
      '.grpc.health.v1.HealthListResponse.StatusesEntry',
    ]);
    expect(list.nestedType.map((m) => m.name)).to.deep.equal(['StatusesEntry']);
    const entry = list.nestedType[0]!;
    expect(entry.options?.mapEntry).to.equal(true);
    expect(entry.field.map((f) => [f.name, f.number, f.label, f.type, f.typeName, f.jsonName])).to.deep.equal([
      ['key', 1, FieldDescriptorProto_Label.OPTIONAL, FieldDescriptorProto_Type.STRING, '', 'key'],
      ['value', 2, FieldDescriptorProto_Label.OPTIONAL, FieldDescriptorProto_Type.MESSAGE, '.grpc.health.v1.HealthCheckResponse', 'value'],
    ]);
  });

  it('renames map entries in nested messages, and not a message of the same name that is no entry', () => {
    const proto = path.join(mkdtempSync(path.join(os.tmpdir(), 'map-entries-')), 'maps.proto');
    writeFileSync(
      proto,
      `syntax = "proto3"; package t;
       message Outer {
         message Inner { map<string, int32> per_model_ms = 1; }
         message Labels { string text = 1; }
         map<string, Labels> labels = 1;
         Labels main = 2;
       }`,
    );
    const files = (loadSync(proto, { keepCase: true })['t.Outer'] as { fileDescriptorProtos: Buffer[] }).fileDescriptorProtos;
    const [file] = completeNames(files).map((b) => fromBinary(FileDescriptorProtoSchema, b));
    const outer = file!.messageType[0]!;
    const typeOf = (name: string): string => outer.field.find((f) => f.name === name)!.typeName;
    expect([typeOf('labels'), typeOf('main')]).to.deep.equal(['.t.Outer.LabelsEntry', '.t.Outer.Labels']);
    expect(outer.nestedType.map((m) => [m.name, m.options?.mapEntry ?? false])).to.have.deep.members([
      ['LabelsEntry', true],
      ['Inner', false],
      ['Labels', false],
    ]);
    const entry = outer.nestedType.find((m) => m.name === 'LabelsEntry')!;
    expect(entry.field[1]!.typeName).to.equal('.t.Outer.Labels');
    const inner = outer.nestedType.find((m) => m.name === 'Inner')!;
    expect(inner.field[0]!.typeName).to.equal('.t.Outer.Inner.PerModelMsEntry');
    expect(inner.nestedType.map((m) => m.name)).to.deep.equal(['PerModelMsEntry']);
  });
});
