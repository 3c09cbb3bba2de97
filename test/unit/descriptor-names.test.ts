import { expect } from 'chai';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { loadSync } from '@grpc/proto-loader';
import { completeNames, resolve } from '../../src/server/descriptor-names.js';
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
    const recognize = file!.service[0]!.method.find((m) => m.name === 'Recognize')!;
    expect([recognize.inputType, recognize.outputType]).to.deep.equal(['.ocr.v1.RecognizeRequest', '.ocr.v1.RecognizeResponse']);
  });
});
