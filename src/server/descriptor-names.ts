import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { protoCamelCase } from '@bufbuild/protobuf/reflect';
import { FileDescriptorProtoSchema, type DescriptorProto, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';

/**
 * File descriptors from proto-loader, with their names as protoc writes them. proto-loader names
 * each field's and method's type by its shortest name from where it is used ("Point" for
 * ocr.v1.Point), which descriptor.proto allows under C++ scoping rules, and leaves out fields' JSON
 * names. grpcurl copes with both, but stricter readers of reflection (protobuf-es registries,
 * protosets turned into code) read "Point" as unresolvable and a JSON name of "". This makes every
 * type reference fully qualified (".ocr.v1.Point"), given all the files it may point into, and sets
 * each field's JSON name as protoc does ("instance_id" → "instanceId").
 */
export function completeNames(files: readonly Uint8Array[]): Uint8Array[] {
  const decoded = files.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
  const known = new Set<string>();
  for (const file of decoded) collectNames(file, known);
  return decoded.map((file) => {
    const pkg = file.package;
    for (const message of file.messageType) qualifyMessage(message, join(pkg, message.name), known);
    for (const service of file.service) {
      const scope = join(pkg, service.name);
      for (const method of service.method) {
        method.inputType = resolve(method.inputType, scope, known);
        method.outputType = resolve(method.outputType, scope, known);
      }
    }
    return toBinary(FileDescriptorProtoSchema, file);
  });
}

const join = (scope: string, name: string): string => (scope ? `${scope}.${name}` : name);

function collectNames(file: FileDescriptorProto, into: Set<string>): void {
  const addMessage = (message: DescriptorProto, scope: string): void => {
    const name = join(scope, message.name);
    into.add(name);
    for (const e of message.enumType) into.add(join(name, e.name));
    for (const nested of message.nestedType) addMessage(nested, name);
  };
  for (const e of file.enumType) into.add(join(file.package, e.name));
  for (const message of file.messageType) addMessage(message, file.package);
}

function qualifyMessage(message: DescriptorProto, fullName: string, known: Set<string>): void {
  for (const field of message.field) {
    field.typeName = resolve(field.typeName, fullName, known);
    field.jsonName ||= protoCamelCase(field.name);
  }
  for (const extension of message.extension) extension.typeName = resolve(extension.typeName, fullName, known);
  for (const nested of message.nestedType) qualifyMessage(nested, join(fullName, nested.name), known);
}

/**
 * `ref` as seen from inside `scope`: the innermost enclosing scope that has it wins (C++ rules, as
 * protoc applies them). Names already full, or not found, are left as they are.
 */
export function resolve(ref: string, scope: string, known: ReadonlySet<string>): string {
  if (ref === '' || ref.startsWith('.')) return ref;
  for (let s = scope; ; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
    const candidate = join(s, ref);
    if (known.has(candidate)) return `.${candidate}`;
    if (s === '') return ref;
  }
}
